// The HQ dashboard: one live summary from the hub (server-sent events), drawn into sections.
// Changes an operator asks for (acknowledge, replay) carry the session's CSRF token.
"use strict";

import { barChart, shareBars } from "/assets/charts.js";

const state = { me: null, sku: null, summary: null, currency: "EUR" };

const $ = (id) => document.getElementById(id);
const money = (cents) =>
  new Intl.NumberFormat(undefined, { style: "currency", currency: state.currency }).format(cents / 100);

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function headCell(row, text) {
  const th = document.createElement("th");
  th.textContent = text;
  row.append(th);
  return th;
}

function item(list, text, cls) {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  list.append(li);
  return li;
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (options.method && options.method !== "GET" && state.me) {
    headers["X-CSRF-Token"] = state.me.csrf_token;
    headers["content-type"] = "application/json";
  }
  const r = await fetch(path, { ...options, headers });
  if (r.status === 401) {
    location.assign("/login");
    throw new Error("signed out");
  }
  return r;
}

// -- sections ---------------------------------------------------------------------------------

function renderFleet(stores) {
  const body = $("stores").tBodies[0];
  body.replaceChildren();
  let trouble = 0;
  for (const s of stores) {
    const row = body.insertRow();
    row.dataset.store = s.store_id;
    const status = s.stream_conflict ? "stream conflict" : s.online ? "online" : "offline";
    if (status !== "online") trouble += 1;
    row.className = status === "online" ? "" : "trouble";
    cell(row, s.store_id);
    cell(row, status, `status ${status.replace(" ", "-")}`);
    cell(row, ago(s.last_seen));
    cell(row, s.sync_lag_s == null ? "–" : `${s.sync_lag_s.toFixed(1)} s`);
    cell(row, s.backlog, s.backlog > 0 ? "warn" : "");
    cell(row, s.oldest_unsent_age_s ? `${s.oldest_unsent_age_s.toFixed(0)} s` : "–");
    const down = s.devices.filter((d) => !d.connected);
    cell(row, s.devices.length ? `${s.devices.length - down.length}/${s.devices.length} up` +
      (down.length ? ` (${down.map((d) => d.device_id).join(", ")} down)` : "") : "none",
      down.length ? "warn" : "");
    cell(row, s.commands_pending);
  }
  $("fleet-note").textContent = `${stores.length} stores, ${trouble} need attention`;
}

async function renderStock() {
  const sku = state.sku;
  if (!sku) return;
  const r = await api(`/v1/stock/${encodeURIComponent(sku)}`);
  if (!r.ok || sku !== state.sku) return; // another product was chosen meanwhile
  const across = await r.json();
  if (sku !== state.sku) return;
  const stores = [...across.stores].sort((a, b) => a.store_id.localeCompare(b.store_id));
  const chart = $("stock-chart");
  chart.dataset.sku = sku; // the chart on screen is this product's
  barChart(chart,
    stores.map((s) => ({ label: s.store_id, values: [s.on_hand, s.available] })),
    [{ name: "on hand", cls: "onhand" }, { name: "available", cls: "available" }]);
  $("sku-total").textContent =
    `${across.total_on_hand} on hand, ${across.total_available} available across the fleet`;
}

function renderStockAlerts(summary) {
  const negative = $("negative");
  negative.replaceChildren();
  for (const a of summary.negative_stock) item(negative, `${a.store_id} · ${a.sku}: ${a.on_hand}`, "bad");
  if (!summary.negative_stock.length) item(negative, "none", "muted");
  const low = $("low");
  low.replaceChildren();
  for (const a of summary.low_stock.slice(0, 12)) {
    item(low, `${a.store_id} · ${a.sku}: ${a.available} available (${a.on_hand} on hand)`, "warn");
  }
  if (!summary.low_stock.length) item(low, "none", "muted");
  const acc = summary.count_accuracy;
  if (acc.length) {
    shareBars($("accuracy"), acc.map((a) => ({
      label: a.store_id, share: a.accuracy, note: `(${a.method}, ${ago(a.counted_at)})`,
    })));
  } else {
    $("accuracy").textContent = "no counts yet";
  }
}

function renderOrders(summary) {
  const table = $("order-counts");
  const methods = [...new Set(Object.values(summary.orders_by_status).flatMap(Object.keys))].sort();
  const head = table.tHead;
  head.replaceChildren();
  const hr = head.insertRow();
  for (const h of ["status", ...methods, "total"]) headCell(hr, h);
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const [status, by] of Object.entries(summary.orders_by_status).sort()) {
    const row = body.insertRow();
    row.dataset.status = status;
    cell(row, status);
    let total = 0;
    for (const m of methods) {
      cell(row, by[m] || 0);
      total += by[m] || 0;
    }
    cell(row, total, "strong");
  }
  const stuck = $("stuck");
  stuck.replaceChildren();
  for (const o of summary.stuck_orders) item(stuck, `${o.order_id} ${o.status} at ${o.store_id || "no store yet"} since ${ago(o.updated_at)}`, "warn");
  if (!summary.stuck_orders.length) item(stuck, "none", "muted");
  const expiring = $("expiring");
  expiring.replaceChildren();
  for (const o of summary.expiring_orders) item(expiring, `${o.order_id} at ${o.store_id}: collect by ${new Date(o.pickup_expires_at).toLocaleString()}`, "warn");
  if (!summary.expiring_orders.length) item(expiring, "none", "muted");
}

function renderReturns(summary) {
  $("returns-count").textContent = `${summary.returns_7d} returns in 7 days`;
  $("returns-refunded").textContent = `· ${money(summary.refunded_cents_7d)} refunded to tenders`;
  $("returns-credit").textContent = `· ${money(summary.store_credit_cents_7d)} store credit`;
  const body = $("flagged").tBodies[0];
  body.replaceChildren();
  for (const r of summary.flagged_returns) {
    const row = body.insertRow();
    row.className = "clickable";
    row.dataset.returnId = r.return_id;
    cell(row, ago(r.at));
    cell(row, r.store_id);
    cell(row, r.return_id);
    cell(row, r.purchase_id || "no receipt");
    cell(row, r.origin);
    cell(row, money(r.total_cents));
    cell(row, r.flagged, "bad");
    row.addEventListener("click", () => showReturn(r.store_id, r.return_id));
  }
}

async function showReturn(storeId, returnId) {
  const r = await api(`/v1/dashboard/returns/${storeId}/${encodeURIComponent(returnId)}`);
  const box = $("return-detail");
  box.replaceChildren();
  if (!r.ok) return;
  const d = await r.json();
  const h = document.createElement("h3");
  h.textContent = `Return ${d.return_id} at ${d.store_id} (${d.origin})`;
  const why = document.createElement("p");
  why.textContent = d.flagged || "not flagged";
  const lines = document.createElement("ul");
  for (const l of d.event?.lines || []) item(lines, `${l.quantity} × ${l.sku} (${l.condition} → ${l.disposition}): ${money(l.refund_cents)}`);
  for (const f of d.event?.refunds || []) item(lines, `refund ${money(f.amount_cents)} to ${f.kind}${f.last4 ? " ••" + f.last4 : ""}`);
  const bought = document.createElement("p");
  bought.textContent = d.purchase ? `Bought ${new Date(d.purchase.purchased_at).toLocaleDateString()} via ${d.purchase.channel}: ` +
    d.purchase.lines.map((l) => `${l.quantity} × ${l.name} (${l.returned} returned)`).join(", ") : "no purchase found";
  box.append(h, why, lines, bought);
  box.hidden = false;
}

function renderAlerts(summary) {
  $("alerts-count").textContent = `${summary.open_alerts} open`;
  const list = $("alert-list");
  list.replaceChildren();
  for (const a of summary.alerts) {
    const li = item(list, `${ago(a.at)} · ${a.store_id || "hub"} · ${a.kind}: ${a.message}`, a.severity);
    if (state.me?.role === "operator") {
      const b = document.createElement("button");
      b.textContent = "Acknowledge";
      b.className = "quiet";
      b.addEventListener("click", async () => {
        await api(`/v1/alerts/${a.id}/acknowledge`, { method: "POST" });
      });
      li.append(" ", b);
    }
  }
  if (!summary.alerts.length) item(list, "no open alerts", "muted");
}

function renderQuarantine(summary) {
  $("quarantine-count").textContent = `${summary.quarantined} set aside`;
  const body = $("quarantine-table").tBodies[0];
  body.replaceChildren();
  for (const q of summary.quarantine) {
    const row = body.insertRow();
    cell(row, ago(q.received_at));
    cell(row, q.store_id || "–");
    cell(row, q.seq ?? "–");
    cell(row, q.reason);
    const actions = row.insertCell();
    if (q.seq == null) {
      actions.textContent = "whole message: the store sends it again";
      actions.className = "muted";
    } else if (state.me?.role === "operator") {
      const b = document.createElement("button");
      b.textContent = "Replay";
      b.addEventListener("click", () => replay(q.id));
      actions.append(b);
    }
  }
}

async function replay(id) {
  const r = await api(`/v1/quarantine/${id}/replay`, { method: "POST" });
  const answer = await r.json().catch(() => ({}));
  $("replay-result").textContent = r.ok ? `entry ${id} replayed` : `entry ${id}: ${answer.detail}`;
}

function render(summary, { stock = true } = {}) {
  state.summary = summary;
  state.currency = summary.currency || state.currency;
  renderFleet(summary.stores);
  renderStockAlerts(summary);
  renderOrders(summary);
  renderReturns(summary);
  renderAlerts(summary);
  renderQuarantine(summary);
  if (stock) renderStock();
}

// The stream sends only changes; "3 s ago" must still grow while nothing changes.
setInterval(() => {
  if (state.summary) render(state.summary, { stock: false });
}, 10_000);

// -- start ------------------------------------------------------------------------------------

async function start() {
  const me = await api("/v1/session");
  state.me = await me.json();
  $("who").textContent = `${state.me.username} (${state.me.role})`;
  $("signout").addEventListener("click", async () => {
    await api("/v1/session", { method: "DELETE" });
    location.assign("/login");
  });
  await loadProducts("");
  const select = $("sku");
  select.addEventListener("change", () => {
    state.sku = select.value;
    renderStock();
  });
  let typing = null;
  $("sku-filter").addEventListener("input", (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => loadProducts(e.target.value.trim()), 250);
  });
  follow();
}

// The product picker: the first 200 products, or those matching what was typed.
async function loadProducts(q) {
  const r = await api(`/v1/catalog?limit=200${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  if (!r.ok) return;
  const products = await r.json();
  const select = $("sku");
  select.replaceChildren(...products.map((p) => new Option(`${p.name} (${p.sku})`, p.sku)));
  const keep = products.some((p) => p.sku === state.sku);
  if (keep) select.value = state.sku;
  else if (products.length) {
    state.sku = products[0].sku;
    renderStock();
  }
}

// One live stream. The browser reconnects on its own after a network error; when the hub
// refuses the stream (the sign-in ended), it gives up, and the page goes to sign in again.
function follow() {
  const live = $("live");
  const stream = new EventSource("/v1/dashboard/events");
  stream.addEventListener("summary", (e) => {
    live.textContent = "live";
    live.className = "pill ok";
    render(JSON.parse(e.data));
  });
  stream.addEventListener("error", async () => {
    live.textContent = "reconnecting…";
    live.className = "pill warn";
    if (stream.readyState !== EventSource.CLOSED) return;
    stream.close();
    await api("/v1/session").catch(() => null); // a 401 goes to the sign-in page
    setTimeout(follow, 3000);
  });
}

start();
