// Porchlight's service worker (docs/notifications.md): it shows rings and motion that the sync
// module pushes while no page is open, opens the right page when one is tapped, and serves a
// small offline page when the sync module cannot be reached. It caches nothing of the owner's:
// only that page, the style sheet and the icon.
/* eslint-env serviceworker */
"use strict";

const shell = "porchlight-shell-v1";
const shellFiles = ["/offline", "/static/app.css", "/static/icon-192.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(shell).then((cache) => cache.addAll(shellFiles)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((name) => name !== shell).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()));
});

// Pages come from the network; only when it fails does the offline page stand in.
self.addEventListener("fetch", (event) => {
  if (event.request.mode !== "navigate") return;
  event.respondWith(fetch(event.request).catch(() => caches.match("/offline")));
});

/**
 * What a push says, checked: the sync module's own message, but bounded here all the same.
 * Returns null for anything else.
 */
function readPush(data) {
  let message;
  try {
    message = data.json();
  } catch {
    return null;
  }
  const text = (value, max) => typeof value === "string" && value.length <= max ? value : null;
  if (!message || message.v !== 1) return null;
  const kind = ["ring", "motion", "test"].includes(message.kind) ? message.kind : null;
  const id = text(message.id, 128);
  const doorbell = text(message.doorbell, 128);
  const name = text(message.doorbellName, 128);
  const at = Number.isFinite(message.at) ? message.at : null;
  if (!kind || id === null || doorbell === null || name === null || at === null) return null;
  return { kind, id, doorbell, name, at };
}

/** The notification for a push: what it says, where a tap leads, and what it replaces. */
function notificationFor(message) {
  const time = new Date(message.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const base = { icon: "/static/icon-192.png", badge: "/static/icon-192.png", timestamp: message.at };
  if (message.kind === "ring") {
    return {
      title: "Someone is at the door",
      options: { ...base, body: `${message.name} · ${time}`, tag: `ring-${message.id}`, renotify: true,
        requireInteraction: true, data: { url: `/live/${encodeURIComponent(message.doorbell)}`, event: message.id } },
    };
  }
  if (message.kind === "motion") {
    return {
      title: `Motion at ${message.name}`,
      // One per doorbell: a burst of motion is one notification, the newest.
      options: { ...base, body: time, tag: `motion-${message.doorbell}`,
        data: { url: `/#event-${encodeURIComponent(message.id)}`, event: message.id } },
    };
  }
  return { title: "Porchlight", options: { ...base, body: "Test notification: this browser hears the door.",
    tag: "test", data: { url: "/notifications" } } };
}

self.addEventListener("push", (event) => {
  const message = event.data ? readPush(event.data) : null;
  // A push must show something (userVisibleOnly); one that cannot be read says so.
  const shown = message ? notificationFor(message)
    : { title: "Porchlight", options: { body: "Something happened at the door.", tag: "unreadable", data: { url: "/" } } };
  event.waitUntil(self.registration.showNotification(shown.title, shown.options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || "/", self.location.origin);
  if (target.origin !== self.location.origin) return;
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const same = open.find((client) => new URL(client.url).pathname === target.pathname);
    if (same) {
      await same.focus();
      if (same.url !== target.href && "navigate" in same) await same.navigate(target.href);
      return;
    }
    await self.clients.openWindow(target.href);
  })());
});
