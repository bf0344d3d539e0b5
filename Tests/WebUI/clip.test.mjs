// The page's clip reader (Sources/WebUI/Assets/clip.js) under Node's test runner, against clips
// the doorbell's ClipWriter wrote: run by `PageScriptTests` (swift test) with the fixtures in
// $PORCHLIGHT_FIXTURES.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

// As the browser runs it: a classic script, whose top-level function is a global.
vm.runInThisContext(readFileSync(new URL("../../Sources/WebUI/Assets/clip.js", import.meta.url), "utf8"));
const dir = process.env.PORCHLIGHT_FIXTURES;
const read = (name) => new Uint8Array(readFileSync(`${dir}/${name}`));
const expected = JSON.parse(readFileSync(`${dir}/clip.json`, "utf8"));

test("a whole clip gives every video frame, in order, with its time and bytes", () => {
  const frames = globalThis.parseClip(read("clip.mkv"));
  assert.equal(frames.length, expected.frames);
  frames.forEach((frame, index) => {
    assert.equal(frame.time, expected.times[index]);
    assert.equal(frame.data[4], index, "frame " + index + "'s bytes");
    assert.equal(frame.data.length, expected.size);
  });
});

test("a clip cut short gives the frames that are whole, and never a partial one", () => {
  const frames = globalThis.parseClip(read("clip-cut.mkv"));
  assert.ok(frames.length > 0 && frames.length < expected.frames, "frames: " + frames.length);
  frames.forEach((frame) => assert.equal(frame.data.length, expected.size));
});

test("bytes that are not Matroska give no frame and do not throw", () => {
  assert.deepEqual(globalThis.parseClip(new Uint8Array([0, 0, 0, 0, 255, 1, 2])), []);
  assert.deepEqual(globalThis.parseClip(new Uint8Array(0)), []);
  assert.deepEqual(globalThis.parseClip(new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 0x01])), []);
});
