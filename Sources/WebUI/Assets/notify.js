// The installable app and its notifications: registers the service worker on every page, and on
// the Notifications page subscribes this browser to Web Push (docs/notifications.md).
/* global porchlightSealed */
"use strict";

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => console.warn("service worker:", error));
}

(() => {
  const section = document.getElementById("push-here");
  if (!section) return;
  const token = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const state = document.getElementById("push-state");
  const say = (text) => { state.textContent = text; };
  const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  if (!supported) {
    say("This browser cannot take push notifications. On an iPhone or iPad (iOS 16.4 or later), add this page to the Home Screen first and open it from there.");
    section.querySelector("button").disabled = true;
    return;
  }
  const fromBase64URL = (text) => {
    const standard = text.replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(standard + "=".repeat((4 - standard.length % 4) % 4)), (c) => c.charCodeAt(0));
  };
  const mine = localStorage.getItem("porchlight-push-id");
  const row = mine && document.querySelector(`tr[data-subscription="${CSS.escape(mine)}"]`);
  if (row) row.classList.add("this-browser");

  document.getElementById("push-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      if (await Notification.requestPermission() !== "granted") {
        say("Notifications are blocked for this site; allow them in the browser's site settings.");
        return;
      }
      const label = document.getElementById("push-label").value.trim();
      await notificationKey(label);
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.getSubscription()
        || await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64URL(section.dataset.key) });
      const { endpoint, keys } = subscription.toJSON();
      const body = JSON.stringify({
        label, endpoint, keys,
        rings: document.getElementById("push-rings").checked, motion: document.getElementById("push-motion").checked,
        duringQuiet: document.getElementById("push-quiet").checked,
      });
      const answer = await fetch("/push/subscriptions", { method: "POST", headers: { "X-CSRF-Token": token(), "Content-Type": "application/json" }, body });
      if (!answer.ok) { say(await answer.text()); return; }
      localStorage.setItem("porchlight-push-id", (await answer.json()).id);
      location.reload();
    } catch (error) {
      say(`Cannot subscribe this browser: ${error.message || error}`);
    }
  });

  // With the recovery key, this browser gets a notification key of its own: made here, never
  // extractable, kept in IndexedDB for the service worker, signed by the recovery key as a key
  // that opens notification thumbnails only. Without it, notifications are text only.
  async function notificationKey(label) {
    const recovery = document.getElementById("push-recovery");
    if (!recovery || !recovery.value.trim() || await porchlightSealed.notificationKey()) return;
    const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    const point = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    let signature;
    try {
      signature = await porchlightSealed.endorse(recovery.value, section.dataset.recoveryPoint, point, "notification");
    } catch {
      throw new Error("that is not a recovery key");
    }
    const answer = await fetch("/keys", { method: "POST", headers: { "X-CSRF-Token": token(), "Content-Type": "application/json" },
      body: JSON.stringify({ label: `${label} (notifications)`.slice(0, 64), publicKey: porchlightSealed.toBase64(point), signature: porchlightSealed.toBase64(signature), role: "notification" }) });
    if (!answer.ok) throw new Error(await answer.text());
    await porchlightSealed.keepNotificationKey({ key: pair.privateKey, point, id: (await answer.json()).id });
  }

  for (const button of document.querySelectorAll("button[data-test]")) {
    button.addEventListener("click", async () => {
      const out = document.getElementById(`push-test-${button.dataset.test}`);
      out.textContent = "sending…";
      const answer = await fetch(`/push/subscriptions/${encodeURIComponent(button.dataset.test)}/test`, { method: "POST", headers: { "X-CSRF-Token": token() } });
      out.textContent = answer.ok ? (await answer.json()).detail : await answer.text();
    });
  }
})();
