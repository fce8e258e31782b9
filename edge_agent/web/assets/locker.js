// The locker terminal: a keypad for the pickup code (or a staff load code), and which door
// opened. The camera next to it reads QR codes on its own; its answers show here too.
"use strict";

import { $, api, el, problem, signedIn } from "/assets/store.js";

// An answer ("take your order from door 3") stays this long, then the screen is clear for
// the next customer. The camera's answers older than this are not shown at all.
const SHOW_S = 30;
const CAMERA_POLL_MS = 1500;

let code = "";
let clearing = null;
let lastCameraSeq = null; // the camera answer shown last: each is shown once

function say(text, outcome, door = "", seconds = SHOW_S) {
  const msg = $("locker-message");
  msg.textContent = text;
  msg.className = outcome ? `big-text ${outcome}` : "big-text";
  msg.dataset.door = door;
  clearTimeout(clearing);
  if (text) clearing = setTimeout(() => say("", ""), seconds * 1000);
}

function show() {
  $("code-display").textContent = code.padEnd(8, "_");
}

async function enter() {
  if (code.length !== 8) return;
  const typed = code;
  code = "";
  show();
  say("One moment…", "");
  let r;
  try {
    r = await api("/v1/lockers/codes", { method: "POST", body: { code: typed } });
  } catch {
    say("The locker is not answering: please try again in a moment.", "bad");
    return;
  }
  if (r.ok) say(r.data.message, "ok", r.data.door);
  else say(problem(r, "that did not work"), "bad");
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

// The camera's latest answer, shown once (a new ``seq``) and only while it is recent: an old
// "take your order" must never greet the next customer or replace a keypad answer.
async function camera(id) {
  const r = await api(`/v1/devices/${encodeURIComponent(id)}/last-pickup`).catch(() => null);
  if (r && r.ok && r.data.seq !== lastCameraSeq) {
    lastCameraSeq = r.data.seq;
    const age = Number(r.data.age_s) || 0;
    if (age < SHOW_S && r.data.message) {
      say(r.data.message, r.data.opened ? "ok" : "bad", r.data.door || "", SHOW_S - age);
    }
  }
  setTimeout(() => camera(id), CAMERA_POLL_MS);
}

signedIn(() => {
  keypad();
  const id = new URLSearchParams(location.search).get("camera");
  if (id) camera(id);
}, ["locker"]);
