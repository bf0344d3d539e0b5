// The page's sealed-media and talk script (Sources/WebUI/Assets/sealed.js) under Node's test
// runner, against items the Swift code sealed: run by `PageScriptTests` (swift test), which makes
// the fixtures in $PORCHLIGHT_FIXTURES and checks what this leaves there.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { webcrypto } from "node:crypto";
import vm from "node:vm";

if (!globalThis.crypto) globalThis.crypto = webcrypto;
// A page's `self` (the script runs in pages and in the service worker).
globalThis.self = globalThis;
vm.runInThisContext(readFileSync(new URL("../../Sources/WebUI/Assets/sealed.js", import.meta.url), "utf8"));
const sealed = globalThis.porchlightSealed;
const dir = process.env.PORCHLIGHT_FIXTURES;
const read = (name) => new Uint8Array(readFileSync(`${dir}/${name}`));
const owner = JSON.parse(readFileSync(`${dir}/owner.json`, "utf8"));
const key = await crypto.subtle.importKey(
  "jwk", { kty: "EC", crv: "P-256", ...owner.jwk }, { name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
const point = Uint8Array.from(Buffer.from(owner.point, "base64"));
const plain = read("plain");

test("a whole item opens to what was sealed", async () => {
  const opened = await sealed.open(read("whole"), key, point);
  assert.equal(opened.complete, true);
  assert.deepEqual(opened.plaintext, plain);
});

test("an item cut inside a chunk opens to its last whole chunk, marked incomplete", async () => {
  const opened = await sealed.open(read("truncated"), key, point);
  assert.equal(opened.complete, false);
  assert.equal(opened.plaintext.length, owner.wholeChunks * owner.chunk);
  assert.deepEqual(opened.plaintext, plain.slice(0, opened.plaintext.length));
});

test("an altered chunk is refused", async () => {
  await assert.rejects(sealed.open(read("tampered"), key, point), /does not authenticate/);
});

test("an item sealed for other keys is refused", async () => {
  await assert.rejects(sealed.open(read("foreign"), key, point), /other keys/);
});

test("a header that is not an item's is refused", async () => {
  await assert.rejects(sealed.open(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), key, point), /not a sealed media item/);
});

test("the door's talk frames open in order with the key in its header; replayed ones are refused", async () => {
  const header = read("talk-header");
  const door = await sealed.talk(await sealed.contentKey(header, key, point), 0);
  const frames = JSON.parse(readFileSync(`${dir}/talk-frames.json`, "utf8")).map((f) => Uint8Array.from(Buffer.from(f, "base64")));
  for (let index = 0; index < frames.length; index++) {
    const { sequence, pcm } = await door.open(frames[index]);
    assert.equal(sequence, index);
    assert.equal(pcm[0], index);
  }
  await assert.rejects(door.open(frames[0]), /replayed or out of order/);
  const altered = frames[frames.length - 1].slice(); altered[100] ^= 1;
  await assert.rejects(door.open(altered));
});

test("the owner's voice key is wrapped for the doorbell's talk key, and its frames sealed", async () => {
  const voice = crypto.getRandomValues(new Uint8Array(16));
  const encoder = new TextEncoder();
  const wrapped = await sealed.wrap(voice, read("talk-key"), encoder.encode("porchlight talk v1 " + owner.session), encoder.encode("owner to door"));
  const toDoor = await sealed.talk(voice, 1);
  const frame = await toDoor.seal(7, new Uint8Array(640).fill(42));
  assert.equal(frame.length, 660);
  writeFileSync(`${dir}/from-node.json`, JSON.stringify({ ...wrapped, voice: Buffer.from(voice).toString("base64"), frame: Buffer.from(frame).toString("base64") }));
});
