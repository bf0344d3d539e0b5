// Porchlight's service worker (docs/notifications.md): it shows rings and motion that the sync
// module pushes while no page is open, opens the right page when one is tapped, and serves a
// small offline page when the sync module cannot be reached. It caches nothing of the owner's:
// only that page, the style sheet and the icon.
/* eslint-env serviceworker */
/* global porchlightSealed */
"use strict";
// Opens the sealed thumbnail with this browser's notification key.
importScripts("/static/sealed.js");

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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long the text waits for its picture, and how long the picture is waited for at all. */
const pictureWait = 1500, pictureLimit = 20000;

/**
 * The event's thumbnail as a data: URL, opened here with this browser's notification key; null
 * when there is no key, the item never arrives within the limit, or it does not open. The sync
 * module has it only sealed, and it may still be on its way from the doorbell (404 until then).
 */
async function thumbnail(message) {
  const held = await porchlightSealed.notificationKey().catch(() => null);
  if (!held) return null;
  const url = `/media/${encodeURIComponent(message.doorbell)}/${encodeURIComponent(message.id)}-thumbnail`;
  const deadline = Date.now() + pictureLimit;
  while (Date.now() < deadline) {
    const answer = await fetch(url, { credentials: "same-origin", cache: "no-store" }).catch(() => null);
    if (answer && answer.ok) {
      try {
        const { plaintext, complete } = await porchlightSealed.open(new Uint8Array(await answer.arrayBuffer()), held.key, held.point);
        return complete ? "data:image/jpeg;base64," + porchlightSealed.toBase64(plaintext) : null;
      } catch {
        return null;
      }
    }
    // 404: not uploaded yet. Anything else (signed out: 401) will not get better by waiting.
    if (answer && answer.status !== 404) return null;
    await sleep(250);
  }
  return null;
}

/**
 * Shows the notification with its picture if the picture comes within `pictureWait`; else the
 * text at once, replaced (silently, same tag) when the picture arrives.
 */
async function show(message) {
  const shown = notificationFor(message);
  if (message.kind === "test") return self.registration.showNotification(shown.title, shown.options);
  const picture = thumbnail(message);
  const early = await Promise.race([picture, sleep(pictureWait).then(() => undefined)]);
  if (early) return self.registration.showNotification(shown.title, { ...shown.options, image: early });
  await self.registration.showNotification(shown.title, shown.options);
  if (early === null) return;
  const late = await picture;
  if (late) await self.registration.showNotification(shown.title, { ...shown.options, image: late, renotify: false, silent: true });
}

self.addEventListener("push", (event) => {
  const message = event.data ? readPush(event.data) : null;
  // A push must show something (userVisibleOnly); one that cannot be read says so.
  if (!message) {
    event.waitUntil(self.registration.showNotification("Porchlight",
      { body: "Something happened at the door.", tag: "unreadable", data: { url: "/" } }));
    return;
  }
  event.waitUntil(show(message));
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
