// The service worker (Sources/WebUI/Assets/sw.js) under Node's test runner, in a context with
// the worker's globals stubbed: what it accepts from a push, what it shows, and the order of text
// and picture. Run by `PageScriptTests` (swift test).
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

/** A fresh worker: its handlers, the notifications it showed, and stubs the test steers. */
function worker({ key = null, answers = [] } = {}) {
  const shown = [];
  const handlers = {};
  const context = {
    URL, TextEncoder, console, JSON, Date, Number, Promise, Uint8Array, encodeURIComponent,
    // Timers fire at once: the 1.5 s bound is a bound, not something to wait out here.
    setTimeout: (callback) => setImmediate(callback),
    location: { origin: "https://hub.example" },
    caches: { open: async () => ({ addAll: async () => {} }), keys: async () => [], match: async () => null },
    importScripts: () => {},
    fetch: async () => answers.shift() || { ok: false, status: 404 },
    porchlightSealed: {
      notificationKey: async () => key,
      open: async (bytes) => ({ plaintext: bytes, complete: true }),
      toBase64: (bytes) => Buffer.from(bytes).toString("base64"),
    },
  };
  context.self = {
    addEventListener: (name, handler) => { handlers[name] = handler; },
    registration: { showNotification: async (title, options) => { shown.push({ title, options }); } },
    location: context.location, clients: {}, skipWaiting: async () => {},
  };
  vm.createContext(context);
  vm.runInContext(readFileSync(new URL("../../Sources/WebUI/Assets/sw.js", import.meta.url), "utf8"), context);
  const push = async (data) => {
    let done;
    handlers.push({ data: data === undefined ? null : { json: () => JSON.parse(data) }, waitUntil: (p) => { done = p; } });
    await done;
  };
  return { context, shown, push };
}

const ring = { v: 1, id: "e1", kind: "ring", doorbell: "front/door", doorbellName: "Front door", at: 1764000000000 };

test("a push is read only when every field is there, of its type and within its bound", () => {
  const { context } = worker();
  const read = (message) => context.readPush({ json: () => message });
  // Objects from the worker's context have its prototypes: compared as plain data.
  assert.deepEqual(JSON.parse(JSON.stringify(read(ring))),
    { kind: "ring", id: "e1", doorbell: "front/door", name: "Front door", at: ring.at });
  for (const bad of [{ ...ring, v: 2 }, { ...ring, kind: "unlock" }, { ...ring, id: "x".repeat(129) },
    { ...ring, doorbellName: 5 }, { ...ring, at: "soon" }, { ...ring, doorbell: undefined }, null, []]) {
    assert.equal(read(bad), null, JSON.stringify(bad));
  }
  assert.equal(context.readPush({ json: () => { throw new SyntaxError("not JSON"); } }), null);
});

test("a ring opens its doorbell's live view, motion its event, each under its own tag", () => {
  const { context } = worker();
  const shownRing = context.notificationFor(context.readPush({ json: () => ring }));
  assert.equal(shownRing.title, "Someone is at the door");
  assert.equal(shownRing.options.tag, "ring-e1");
  assert.equal(shownRing.options.data.url, "/live/front%2Fdoor");
  const motion = context.notificationFor(context.readPush({ json: () => ({ ...ring, kind: "motion" }) }));
  assert.equal(motion.options.tag, "motion-front/door");
  assert.equal(motion.options.data.url, "/#event-e1");
});

test("without a notification key the text shows at once, and nothing is fetched", async () => {
  const { shown, push } = worker();
  await push(JSON.stringify(ring));
  assert.equal(shown.length, 1);
  assert.equal(shown[0].options.image, undefined);
});

test("a picture later than the wait: the text first, then the same notification with the picture, silently", async () => {
  const picture = { ok: true, status: 200, arrayBuffer: async () => new Uint8Array([0xff, 0xd8]).buffer };
  const { shown, push } = worker({ key: { key: {}, point: new Uint8Array(65) }, answers: [{ ok: false, status: 404 }, picture] });
  await push(JSON.stringify(ring));
  assert.equal(shown.length, 2);
  assert.equal(shown[0].options.image, undefined);
  assert.equal(shown[1].options.tag, shown[0].options.tag);
  assert.equal(shown[1].options.image, "data:image/jpeg;base64,/9g=");
  assert.equal(shown[1].options.silent, true);
});

test("a picture the sync module refuses (signed out) leaves the text alone", async () => {
  const { shown, push } = worker({ key: { key: {}, point: new Uint8Array(65) }, answers: [{ ok: false, status: 401 }] });
  await push(JSON.stringify(ring));
  assert.equal(shown.length, 1);
  assert.equal(shown[0].options.image, undefined);
});

test("an unreadable push still shows, and says nothing it does not know", async () => {
  const { shown, push } = worker();
  await push("{\"v\":1,\"kind\":\"ring\"}");
  assert.equal(shown.length, 1);
  assert.equal(shown[0].options.body, "Something happened at the door.");
});
