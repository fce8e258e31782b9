// The kiosk: search (typed, or a scanner typing into the box), stock here / nearby / online,
// and ordering from another store when it is not here. The customer pays at the standalone
// card terminal next to the kiosk and types in the approval reference from its slip.
"use strict";

import { $, ago, api, el, money, problem, signedIn, token } from "/assets/store.js";

// The kiosk is public: after this long without a touch or a key, everything the last shopper
// typed or saw (search, order form, "Your order") is cleared for the next one.
const IDLE_MS = 60_000;
const POLL_MS = 2000;
// A kiosk order's status (edge_agent/kiosk.py: "queued", then the hub's) after which nothing
// more happens that the shopper at the kiosk waits for.
const FINAL = new Set(["collected", "shipped", "cancelled", "unfulfillable", "expired", "failed",
  "rejected", "refunded"]);
// storelink_contract/payments.py ProcessorToken, and the slip's last four digits.
const REFERENCE = /^[A-Za-z0-9_:.-]{8,128}$/;
const LAST4 = /^[0-9]{4}$/;

let ordering = null;
let poller = null; // the one timer following the shopper's order
let idle = null;

async function search(q) {
  const r = await api(`/v1/kiosk/search?q=${encodeURIComponent(q)}`);
  const results = $("results");
  results.replaceChildren();
  if (!r.ok || !r.data.length) {
    results.append(el("p", { class: "big-text" }, `Nothing found for “${q}”.`));
    return;
  }
  for (const p of r.data) results.append(card(p));
}

function card(p) {
  const here = p.here.available;
  const nearby = p.other_stores.slice(0, 5).map((s) =>
    el("li", { class: s.available > 0 ? "" : "muted", "data-store": s.store_id },
      `${s.name || s.store_id}${s.distance_km != null ? ` · ${s.distance_km} km` : ""}: `,
      el("strong", {}, `${s.available} available`),
      el("span", { class: "muted" }, ` (as of ${ago(s.as_of)})`)));
  const box = el("article", { class: "product", "data-sku": p.sku },
    el("h2", {}, p.name || p.sku),
    el("p", { class: "price" }, p.price_cents != null ? money(p.price_cents) : ""),
    el("p", { class: here > 0 ? "here ok" : "here none" },
      here > 0 ? `${here} available in this store` : "Not available in this store"),
    el("h3", {}, "Nearby stores"),
    nearby.length ? el("ul", { class: "nearby" }, ...nearby) : el("p", { class: "muted" }, "no other store has it"),
    el("p", { class: "online" }, `${p.online_available} available to order online`));
  if (here <= 0 && p.online_available > 0) {
    box.append(el("button", { class: "big order-elsewhere", onclick: () => openOrder(p) }, "Order it from another store"));
  }
  return box;
}

function method() {
  return document.querySelector("input[name=method]:checked").value;
}

function total() {
  return (ordering ? ordering.price_cents || 0 : 0) * Math.max(0, Number($("order-qty").value) || 0);
}

// The address is asked for only for a home delivery; a disabled fieldset is also left out of
// the form's checks, so "collect it here" does not ask for it.
function showMethod() {
  const home = method() === "ship_from_store";
  $("delivery-address").hidden = !home;
  $("delivery-address").disabled = !home;
  $("order-total").textContent = `Amount to pay: ${money(total())}`;
}

function openOrder(p) {
  ordering = p;
  $("order-title").textContent = `Order ${p.name || p.sku}`;
  $("order-error").hidden = true;
  showMethod();
  $("order-dialog").showModal();
}

function orderError(text) {
  $("order-error").textContent = text;
  $("order-error").hidden = false;
}

// Checked before the dialog closes, so the shopper can correct what they typed.
function checkOrder() {
  const reference = $("order-token").value.trim();
  if (!REFERENCE.test(reference)) {
    return "The approval reference is 8 to 128 letters, digits or the signs _ : . - (no spaces): "
      + "type it exactly as it is printed on the terminal's slip.";
  }
  if (!LAST4.test($("order-last4").value.trim())) {
    return "Type the last four digits of your card, as printed on the terminal's slip.";
  }
  if (method() === "ship_from_store" && !/^[A-Za-z]{2}$/.test($("addr-country").value.trim())) {
    return "Type the country as its two-letter code, for example DE.";
  }
  return null;
}

function address() {
  const value = (id) => $(id).value.trim();
  return {
    line1: value("addr-line1"),
    ...(value("addr-line2") ? { line2: value("addr-line2") } : {}),
    postcode: value("addr-postcode"),
    city: value("addr-city"),
    country: value("addr-country").toUpperCase(),
  };
}

async function placeOrder() {
  const quantity = Number($("order-qty").value);
  const how = method();
  const customer = { name: $("order-name").value.trim(), email: $("order-email").value.trim() };
  if (how === "ship_from_store") customer.address = address();
  const body = {
    client_order_id: `kiosk-${Date.now()}-${Math.floor(Math.random() * 1e6)}`,
    method: how,
    lines: [{ sku: ordering.sku, quantity }],
    customer,
    tenders: [{
      kind: "card", amount_cents: total(),
      processor_token: $("order-token").value.trim(), last4: $("order-last4").value.trim(),
    }],
  };
  $("kiosk-order").hidden = false;
  const status = $("order-status");
  status.textContent = "Placing your order…";
  delete status.dataset.status;
  let r;
  try {
    r = await api("/v1/kiosk/orders", { method: "POST", body });
  } catch {
    status.textContent = "The order could not be sent: please ask a member of staff.";
    return;
  }
  if (!r.ok) {
    status.textContent = `The order was not placed: ${problem(r, "please ask a member of staff")}`;
    status.dataset.status = "refused";
    return;
  }
  clearForm(); // what the shopper typed is not needed any more
  show(r.data);
  follow(r.data.client_order_id);
}

function show(o) {
  $("order-status").textContent = `Order ${o.order_id || "(queued)"}: ${o.status}. ${o.detail}`;
  $("order-status").dataset.status = o.status;
}

// One poller for the shopper's order, until it reaches a final status or the kiosk resets.
function follow(clientOrderId) {
  stopFollowing();
  const tick = async () => {
    let r = null;
    try {
      r = await api(`/v1/kiosk/orders/${encodeURIComponent(clientOrderId)}`);
    } catch {
      // unreachable for now (the banner says so): the next tick tries again; signed out: stop
      if (!token()) poller = null;
    }
    if (poller === null) return; // reset while the answer was on its way
    if (r && r.ok) show(r.data);
    if (r && (FINAL.has(r.data.status) || (!r.ok && r.status < 500))) {
      poller = null;
      return;
    }
    poller = setTimeout(tick, POLL_MS);
  };
  poller = setTimeout(tick, POLL_MS);
}

function stopFollowing() {
  if (poller !== null) clearTimeout(poller);
  poller = null;
}

function clearForm() {
  $("order-form").reset();
  $("order-error").hidden = true;
  showMethod();
}

// The next shopper sees nothing of the last one.
function reset() {
  stopFollowing();
  if ($("order-dialog").open) $("order-dialog").close();
  clearForm();
  ordering = null;
  $("kiosk-order").hidden = true;
  $("order-status").textContent = "";
  delete $("order-status").dataset.status;
  $("results").replaceChildren();
  $("q").value = "";
}

function touched() {
  clearTimeout(idle);
  idle = setTimeout(reset, IDLE_MS);
}

signedIn((me) => {
  $("store-name").textContent = me.store_name ? `${me.store_name} (${me.store_id})` : me.store_id;
  $("search").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("q").value.trim();
    if (q) search(q).catch(() => {});
  });
  for (const input of document.querySelectorAll("input[name=method]")) {
    input.addEventListener("change", showMethod);
  }
  $("order-qty").addEventListener("input", showMethod);
  $("order-form").addEventListener("submit", (e) => {
    if (!e.submitter || e.submitter.value !== "order") return; // cancel closes the dialog
    e.preventDefault();
    const wrong = checkOrder();
    if (wrong) {
      orderError(wrong);
      return;
    }
    $("order-dialog").close();
    placeOrder();
  });
  for (const kind of ["pointerdown", "keydown", "input"]) {
    document.addEventListener(kind, touched, { capture: true, passive: true });
  }
  touched();
}, ["kiosk"]);
