// The staff page: pick by scanning, pack into a locker, load it, and look up a purchase for
// a return. Refreshes itself every few seconds.
"use strict";

import { $, api, el, money, problem, signedIn } from "/assets/store.js";

let current = null;

async function refresh() {
  const picks = await api("/v1/picklist");
  const list = $("picklist");
  list.replaceChildren();
  for (const o of picks.ok ? picks.data : []) {
    const left = o.lines.reduce((n, l) => n + l.quantity - l.picked, 0);
    list.append(el("div", { class: "order", "data-order": o.order_id },
      el("strong", {}, o.order_id), ` ${o.method} · ${o.customer_name} · ${left} to pick `,
      el("button", { class: "big", onclick: () => startPicking(o.order_id) }, "Pick")));
  }
  if (!list.children.length) list.append(el("p", { class: "muted" }, "nothing to pick"));
  const open = await api("/v1/orders");
  const box = $("open-orders");
  if (!box.contains(document.activeElement)) renderOpen(box, open.ok ? open.data : []);
  const lockers = await api("/v1/lockers");
  const body = $("compartments").tBodies[0];
  body.replaceChildren();
  for (const c of lockers.ok ? lockers.data : []) {
    const row = body.insertRow();
    row.dataset.compartment = c.compartment_id;
    for (const v of [c.door, c.size, c.state, c.order_id || "", c.door_open == null ? "?" : c.door_open ? "open" : "closed"]) {
      row.insertCell().textContent = v;
    }
    const actions = row.insertCell();
    if (["retrieval", "attention"].includes(c.state)) {
      actions.append(el("button", { onclick: () => act(`/v1/lockers/compartments/${c.compartment_id}/open`, { purpose: "retrieval" }, "lockers-message") }, "Open to empty"));
    }
  }
}

// The orders waiting for a step at the counter. The list redraws every few seconds, but never
// while staff are typing in it, so a half-typed tracking number stays.
function renderOpen(box, orders) {
  box.replaceChildren();
  for (const o of orders) {
    if (!["packed", "ready", "incoming"].includes(o.status)) continue;
    const row = el("div", { class: "order", "data-order": o.order_id },
      el("strong", {}, o.order_id), ` ${o.status} · ${o.location_id || ""} `);
    if (o.status === "packed" && o.method === "ship_from_store" && o.ship_address) {
      row.append(deliverTo(o.ship_address));
    }
    if (o.status === "incoming") {
      row.append(el("button", { class: "big", onclick: () => act(`/v1/orders/${o.order_id}/receive`, {}, "open-message") }, "Received"));
    }
    if (o.status === "packed" && ["ship_from_store", "ship_to_store"].includes(o.method)) {
      const carrier = el("input", { placeholder: "Carrier", "aria-label": "Carrier", maxlength: "40" });
      const tracking = el("input", { placeholder: "Tracking number", "aria-label": "Tracking number", maxlength: "60" });
      const ship = () => carrier.value.trim()
        ? act(`/v1/orders/${o.order_id}/ship`, { carrier: carrier.value.trim(), tracking: tracking.value.trim() }, "open-message")
        : ($("open-message").textContent = "name the carrier first");
      row.append(carrier, tracking, el("button", { class: "big", onclick: ship }, "Shipped"));
    }
    box.append(row);
  }
}

// A home delivery's address, for the parcel's label (GET /v1/orders gives ``ship_address``).
function deliverTo(a) {
  const lines = [a.line1, a.line2, `${a.postcode} ${a.city}`, a.country].filter(Boolean);
  return el("address", { class: "ship-to" }, el("span", { class: "muted" }, "Deliver to: "),
    ...lines.flatMap((line, n) => (n ? [el("br"), line] : [line])));
}

// A button's action; its answer shows next to the list it was pressed in (``where``).
async function act(path, body, where) {
  const r = await api(path, { method: "POST", body });
  const msg = $(where);
  msg.textContent = r.ok ? "done" : problem(r);
  msg.className = r.ok ? "ok" : "bad";
  refresh().catch(() => {});
}

async function startPicking(orderId) {
  const r = await api(`/v1/orders/${orderId}/picking`, { method: "POST", body: {} });
  const msg = $("picklist-message");
  if (!r.ok) {
    msg.textContent = `${orderId} cannot be picked: ${problem(r)}`;
    return;
  }
  msg.textContent = "";
  current = r.data;
  $("picking-order").hidden = false;
  $("pack-result").textContent = "";
  draw(current);
  $("pick-code").focus();
}

function draw(order) {
  $("picking-title").textContent = `${order.order_id} for ${order.customer_name}`;
  const lines = $("picking-lines");
  lines.replaceChildren();
  for (const l of order.lines) {
    lines.append(el("li", { class: l.picked === l.quantity ? "ok" : "" },
      `${l.name}: ${l.picked} of ${l.quantity}`));
  }
}

async function pick(code) {
  const r = await api(`/v1/orders/${current.order_id}/picks`, { method: "POST", body: { code } });
  const msg = $("pick-message");
  msg.textContent = r.ok ? r.data.message : problem(r);
  msg.className = r.ok ? "ok" : "bad";
  if (r.ok) {
    current = r.data.order;
    draw(current);
  }
}

async function pack(size) {
  const r = await api(`/v1/orders/${current.order_id}/pack`, { method: "POST", body: { parcel_size: size } });
  const out = $("pack-result");
  if (!r.ok) {
    out.textContent = problem(r);
    return;
  }
  const loc = r.data.location;
  out.textContent = !loc ? "Packed: ready to ship" : loc.kind === "locker"
    ? `Put it in ${loc.label}: load code ${r.data.load_code}` : `On the ${loc.label} shelf: ready`;
  refresh().catch(() => {});
}

async function findPurchase() {
  const by = $("return-by").value;
  const value = $("return-value").value.trim();
  const r = await api(`/v1/returns/purchases?by=${by}&value=${encodeURIComponent(value)}`);
  const box = $("purchases");
  box.replaceChildren();
  $("return-message").textContent = "";
  if (!r.ok) {
    $("return-message").textContent = problem(r);
    return;
  }
  if (!r.data.hub_reachable) box.append(el("p", { class: "warn" }, "The hub is unreachable: only this store's sales are shown."));
  for (const p of r.data.purchases) {
    const lines = p.lines.map((l) => el("li", {},
      `${l.quantity} × ${l.name} at ${money(l.unit_price_cents)} (${l.returned} returned)`));
    const paid = p.tenders.map((t) => `${t.kind}${t.last4 ? " ••" + t.last4 : ""} ${money(t.amount_cents)}`).join(", ");
    box.append(el("article", { class: "purchase", "data-purchase": p.purchase_id },
      el("h3", {}, `${p.purchase_id} · ${new Date(p.purchased_at).toLocaleDateString()} · ${p.channel}`),
      el("ul", {}, ...lines), el("p", { class: "muted" }, `Paid: ${paid}`)));
  }
  if (!r.data.purchases.length) box.append(el("p", {}, "No purchase found."));
}

signedIn(() => {
  $("pick-scan").addEventListener("submit", (e) => {
    e.preventDefault();
    const code = $("pick-code").value.trim();
    $("pick-code").value = "";
    if (code && current) pick(code);
  });
  for (const b of document.querySelectorAll("#pack-buttons button")) {
    b.addEventListener("click", () => current && pack(b.dataset.size));
  }
  $("return-lookup").addEventListener("submit", (e) => {
    e.preventDefault();
    findPurchase();
  });
  const again = () => refresh().catch(() => {}).finally(() => setTimeout(again, 3000));
  again();
}, ["staff", "manager"]);
