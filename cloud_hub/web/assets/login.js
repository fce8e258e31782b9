// Sign-in form: POST /v1/session sets the HttpOnly session cookie; then on to the dashboard.
"use strict";

document.getElementById("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = document.getElementById("signin-error");
  error.hidden = true;
  const body = {
    username: document.getElementById("username").value,
    password: document.getElementById("password").value,
  };
  const r = await fetch("/v1/session", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (r.ok) {
    // Back to the page that sent us here: a path on this hub only, never another site.
    const next = new URLSearchParams(location.search).get("next") || "";
    location.assign(/^\/(?![/\\])/.test(next) ? next : "/dashboard");
    return;
  }
  const answer = await r.json().catch(() => ({}));
  error.textContent = typeof answer.detail === "string" ? answer.detail : `sign-in failed (${r.status})`;
  error.hidden = false;
});
