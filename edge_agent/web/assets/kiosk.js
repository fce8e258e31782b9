// The kiosk: search (typed, or a scanner typing into the box), stock here / nearby / online,
// and ordering from another store when it is not here.
"use strict";

import { $, ago, api, el, money, signedIn } from "/assets/store.js";

let ordering = null;

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
    box.append(el("button", { class: "big", onclick: () => openOrder(p) }, "Order it from another store"));
  }
  return box;
}

function openOrder(p) {
  ordering = p;
  $("order-title").textContent = `Order ${p.name || p.sku}`;
  $("order-dialog").showModal();
}

async function placeOrder() {
  const quantity = Number($("order-qty").value);
  const price = ordering.price_cents || 0;
  const method = document.querySelector("input[name=method]:checked").value;
  const body = {
    client_order_id: `kiosk-${Date.now()}-${Math.floor(Math.random() * 1e6)}`,
    method,
    lines: [{ sku: ordering.sku, quantity }],
    customer: { name: $("order-name").value, email: $("order-email").value },
    tenders: [{ kind: "card", amount_cents: price * quantity, processor_token: $("order-token").value, last4: $("order-last4").value }],
  };
  const r = await api("/v1/kiosk/orders", { method: "POST", body });
  $("kiosk-order").hidden = false;
  if (!r.ok) {
    $("order-status").textContent = r.data.detail || "the order could not be placed";
    return;
  }
  follow(r.data.client_order_id);
}

async function follow(clientOrderId) {
  const r = await api(`/v1/kiosk/orders/${clientOrderId}`);
  if (r.ok) {
    const o = r.data;
    $("order-status").textContent = `Order ${o.order_id || "(queued)"}: ${o.status}. ${o.detail}`;
    $("order-status").dataset.status = o.status;
  }
  setTimeout(() => follow(clientOrderId), 2000);
}

signedIn(() => {
  $("search").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("q").value.trim();
    if (q) search(q);
  });
  $("order-form").addEventListener("submit", (e) => {
    if (e.submitter && e.submitter.value === "order") {
      e.preventDefault();
      $("order-dialog").close();
      placeOrder();
    }
  });
}, "/v1/me");
