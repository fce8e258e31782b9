// What every store page shares: the device's sign-in (its device token, kept on the device)
// and calls to the store agent's API with it.
"use strict";

// One token per page: a device signs in as what it is (a kiosk, a locker, staff).
const KEY = `storelink-device-token:${location.pathname}`;

export function token() {
  return localStorage.getItem(KEY);
}

export async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, ...(options.headers || {}) };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(path, {
    ...options,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (r.status === 401) {
    localStorage.removeItem(KEY);
    showSignIn();
    throw new Error("signed out");
  }
  const data = await r.json().catch(() => ({}));
  return { ok: r.ok, status: r.status, data };
}

export function $(id) {
  return document.getElementById(id);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

export function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

export const money = (cents) => (cents / 100).toFixed(2);

function showSignIn() {
  $("app").hidden = true;
  $("device-signin").hidden = false;
}

// Runs ``start`` once the device has a token that the agent accepts.
export function signedIn(start, probe) {
  const form = $("device-signin");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    localStorage.setItem(KEY, $("device-token").value.trim());
    const check = await api(probe).catch(() => null);
    if (check && check.ok) {
      form.hidden = true;
      $("app").hidden = false;
      start();
    } else {
      $("device-error").textContent = "this device token is not accepted here";
      $("device-error").hidden = false;
    }
  });
  if (token()) {
    api(probe).then((check) => {
      if (check.ok) {
        form.hidden = true;
        $("app").hidden = false;
        start();
      }
    }).catch(() => {});
  } else {
    showSignIn();
  }
}
