// What every store page shares: the device's sign-in (its device token, kept on the device),
// calls to the store agent's API with it, and turning the API's refusals into readable text.
"use strict";

// One token per page: a device signs in as what it is (a kiosk, a locker, staff).
const KEY = `storelink-device-token:${location.pathname}`;
const RETRY_MS = 3000;
const OFFLINE_TEXT = "store system not reachable, retrying";

export function token() {
  return localStorage.getItem(KEY);
}

// Every call goes through here. A dropped connection shows the "not reachable" banner (and
// throws); the next answer hides it again. A 401 signs the device out.
export async function api(path, options = {}) {
  const bearer = options.token === undefined ? token() : options.token;
  const headers = { Authorization: `Bearer ${bearer}`, ...(options.headers || {}) };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let r;
  try {
    r = await fetch(path, {
      method: options.method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch (err) {
    reachable(false);
    throw err;
  }
  reachable(true);
  if (r.status === 401 && options.token === undefined) {
    localStorage.removeItem(KEY);
    showSignIn();
    throw new Error("signed out");
  }
  const data = await r.json().catch(() => ({}));
  return { ok: r.ok, status: r.status, data };
}

// A refusal's ``detail`` as a sentence: FastAPI's 422 gives a list of {loc, msg}, the store's
// own errors a string. Never "[object Object]".
export function errorText(detail, fallback = "that did not work") {
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((d) => {
      if (typeof d === "string") return d;
      if (!d || typeof d !== "object") return String(d);
      const where = (Array.isArray(d.loc) ? d.loc : []).filter((p) => p !== "body").join(" › ");
      return where ? `${where}: ${d.msg || "not valid"}` : d.msg || "not valid";
    }).join("; ");
  }
  if (detail && typeof detail === "object" && typeof detail.msg === "string") return detail.msg;
  return fallback;
}

// The reason an API answer was refused, readable.
export function problem(answer, fallback) {
  return errorText(answer && answer.data ? answer.data.detail : undefined, fallback);
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

function reachable(up) {
  let banner = $("store-offline");
  if (!banner) {
    if (up) return;
    banner = el("p", { id: "store-offline", class: "offline", role: "alert" }, OFFLINE_TEXT);
    document.body.prepend(banner);
  }
  banner.hidden = up;
}

function showSignIn(message) {
  $("app").hidden = true;
  $("device-signin").hidden = false;
  const error = $("device-error");
  error.textContent = message || "";
  error.hidden = !message;
}

const ROLE_NAMES = { pos: "till", kiosk: "kiosk", staff: "staff", manager: "manager", locker: "locker" };

function refusal(role, roles) {
  const wanted = roles.map((r) => ROLE_NAMES[r] || r).join(" or ");
  return `this is a ${ROLE_NAMES[role] || role} token: this page needs a ${wanted} device token`;
}

// Runs ``start(me)`` once the device has a token that the agent accepts for one of ``roles``
// (the page's own: a kiosk page never runs with a staff token). A token is stored only once
// it is accepted, so a refused staff token is never left on a public kiosk or locker.
export function signedIn(start, roles) {
  const form = $("device-signin");
  let started = false;
  const run = (me) => {
    form.hidden = true;
    $("app").hidden = false;
    if (!started) {
      started = true;
      start(me);
    }
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const candidate = $("device-token").value.trim();
    $("device-token").value = "";
    let check;
    try {
      check = await api("/v1/me", { token: candidate });
    } catch {
      showSignIn(`${OFFLINE_TEXT}: try again in a moment`);
      return;
    }
    if (!check.ok) {
      showSignIn(check.status === 401
        ? "this device token is not known here, or it was revoked"
        : problem(check, "this device token is not accepted here"));
    } else if (!roles.includes(check.data.role)) {
      showSignIn(refusal(check.data.role, roles));
    } else {
      localStorage.setItem(KEY, candidate);
      run(check.data);
    }
  });
  const resume = async () => {
    let check;
    try {
      check = await api("/v1/me");
    } catch {
      if (token()) setTimeout(resume, RETRY_MS); // unreachable: the banner says so
      return;
    }
    if (check.ok && roles.includes(check.data.role)) {
      run(check.data);
    } else if (check.ok) {
      localStorage.removeItem(KEY); // left by an earlier version of the page: never kept
      showSignIn(refusal(check.data.role, roles));
    } else {
      reachable(false); // the agent answers but cannot serve yet (starting, busy)
      setTimeout(resume, RETRY_MS);
    }
  };
  if (token()) resume();
  else showSignIn();
}
