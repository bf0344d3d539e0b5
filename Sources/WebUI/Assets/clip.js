/* exported parseClip */
"use strict";
// Clips: Matroska with MJPEG frames, parsed here (a script of its own, unit-tested
// under Node: Tests/WebUI/clip.test.mjs) and drawn on a canvas by app.js (browsers do not play
// MJPEG in a video element). Only what the doorbell writes is needed: EBML elements, Segment
// and Cluster with known or unknown sizes, Cluster Timecode and SimpleBlocks.
function parseClip(bytes) {
  let frames = [], pos = 0, clusterTime = 0;
  const vint = (at, keepMarker) => {
    const first = bytes[at];
    let length = 1, mask = 0x80;
    while (length <= 8 && !(first & mask)) { length++; mask >>= 1; }
    if (length > 8 || at + length > bytes.length) return null;
    let value = keepMarker ? first : first & (mask - 1), unknown = (first & (mask - 1)) === mask - 1;
    for (let i = 1; i < length; i++) { value = value * 256 + bytes[at + i]; if (bytes[at + i] !== 0xff) unknown = false; }
    return { value, length, unknown };
  };
  const containers = new Set([0x18538067, 0x1f43b675]);
  while (pos < bytes.length) {
    const id = vint(pos, true); if (!id) break;
    const size = vint(pos + id.length, false); if (!size) break;
    const start = pos + id.length + size.length;
    if (containers.has(id.value)) { pos = start; continue; }
    if (start + size.value > bytes.length) break; // cut short: keep what is whole
    if (id.value === 0xe7) {
      let t = 0; for (let i = 0; i < size.value; i++) t = t * 256 + bytes[start + i];
      clusterTime = t;
    } else if (id.value === 0xa3) {
      const track = vint(start, false);
      const offset = (bytes[start + track.length] << 8 | bytes[start + track.length + 1]) << 16 >> 16;
      const data = bytes.subarray(start + track.length + 3, start + size.value);
      // Track 1 is the video; track 2, when the owner records audio, is PCM (not played here).
      if (track.value === 1) frames.push({ time: (clusterTime + offset) / 1000, data });
    }
    pos = start + size.value;
  }
  return frames;
}
