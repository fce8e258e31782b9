// The locker terminal: a keypad for the pickup code (or a staff load code), and which door
// opened. The camera next to it reads QR codes on its own; its answers show here too.
"use strict";

import { $, api, el, signedIn } from "/assets/store.js";

let code = "";

function show() {
  $("code-display").textContent = code.padEnd(8, "_");
}

async function enter() {
  if (code.length !== 8) return;
  const msg = $("locker-message");
  msg.textContent = "One moment…";
  msg.className = "big-text";
  const r = await api("/v1/lockers/codes", { method: "POST", body: { code } });
  msg.textContent = r.ok ? r.data.message : r.data.detail || "that did not work";
  msg.className = r.ok ? "big-text ok" : "big-text bad";
  msg.dataset.door = r.ok ? r.data.door : "";
  code = "";
  show();
}

function keypad() {
  const pad = $("keypad");
  for (const k of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "enter"]) {
    pad.append(el("button", {
      class: k.length > 1 ? "key wide" : "key", "data-key": k,
      onclick: () => {
        if (k === "clear") code = "";
        else if (k === "enter") enter();
        else if (code.length < 8) code += k;
        show();
      },
    }, k === "clear" ? "Clear" : k === "enter" ? "Open" : k));
  }
  document.addEventListener("keydown", (e) => {
    if (/^[0-9]$/.test(e.key) && code.length < 8) code += e.key;
    else if (e.key === "Backspace") code = code.slice(0, -1);
    else if (e.key === "Enter") enter();
    show();
  });
  show();
}

async function camera() {
  const id = new URLSearchParams(location.search).get("camera");
  if (!id) return;
  const r = await api(`/v1/devices/${encodeURIComponent(id)}/last-pickup`).catch(() => null);
  if (r && r.ok && r.data.message) {
    $("locker-message").textContent = r.data.message;
  }
  setTimeout(camera, 1500);
}

signedIn(() => {
  keypad();
  camera();
}, "/v1/me");
