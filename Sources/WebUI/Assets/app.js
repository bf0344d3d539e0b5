"use strict";
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

// Timeline: new and updated rows arrive as server-sent events, rendered by the server.
function timeline() {
  const list = document.getElementById("timeline");
  if (!list) return;
  const params = new URLSearchParams(location.search);
  if (params.get("before")) return; // an older page stays as it is
  const kind = params.get("kind") || "all", device = params.get("device") || "", day = params.get("day") || "";
  const status = document.getElementById("live-status");
  const notify = document.getElementById("notify");
  if ("Notification" in window && Notification.permission === "default") {
    notify.hidden = false;
    notify.addEventListener("click", () => Notification.requestPermission().then(() => { notify.hidden = true; }));
  }
  const today = new Date().toLocaleDateString("en-CA"); // yyyy-mm-dd, local time
  const wanted = (row) => {
    if (kind === "ring" && !["ring", "long-press"].includes(row.kind)) return false;
    if (kind === "motion" && row.kind !== "motion-started") return false;
    if (device && row.device !== device) return false;
    return !day || day === today;
  };
  const source = new EventSource("/events/stream");
  window.porchlightStream = source;
  source.addEventListener("open", () => { status.textContent = "Live updates on."; });
  source.addEventListener("error", () => { status.textContent = "Live updates paused; reconnecting…"; });
  source.addEventListener("row", (message) => {
    const row = JSON.parse(message.data);
    if (!wanted(row)) return;
    const template = document.createElement("template");
    template.innerHTML = row.html.trim();
    const item = template.content.firstElementChild;
    const existing = document.getElementById("event-" + row.eventID);
    if (existing) { existing.replaceWith(item); return; }
    item.classList.add("fresh");
    list.prepend(item);
    document.getElementById("empty")?.remove();
    if (row.kind === "ring" && "Notification" in window && Notification.permission === "granted" && document.hidden) {
      new Notification("Someone is at the door", { body: item.querySelector(".doorbell")?.textContent || "" });
    }
  });
}

async function drawJPEG(canvas, data) {
  const bitmap = await createImageBitmap(new Blob([data], { type: "image/jpeg" }));
  if (canvas.width !== bitmap.width) { canvas.width = bitmap.width; canvas.height = bitmap.height; }
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
}

// Sealed media (docs/privacy.md): this browser's key, unlocked with the passphrase for
// this tab only (sessionStorage), opens snapshots and clips with /static/sealed.js.
const porchlightMedia = (() => {
  const base64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  let unlocked = null;
  async function key() {
    if (unlocked) return unlocked;
    const jwk = sessionStorage.getItem("porchlight-unlocked"), held = JSON.parse(localStorage.getItem("porchlight-key") || "null");
    if (!jwk || !held) return null;
    const privateKey = await crypto.subtle.importKey("jwk", JSON.parse(jwk), { name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    unlocked = { privateKey, point: base64(held.publicKey) };
    return unlocked;
  }
  async function unlock(passphrase) {
    const held = JSON.parse(localStorage.getItem("porchlight-key") || "null");
    if (!held) throw new Error("this browser holds no key; make one on the Keys page");
    const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveKey"]);
    const wrapping = await crypto.subtle.deriveKey({ name: "PBKDF2", salt: base64(held.salt), iterations: 600000, hash: "SHA-256" }, material, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
    let jwk;
    try { jwk = new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv: base64(held.iv) }, wrapping, base64(held.data))); }
    catch (_) { throw new Error("wrong passphrase"); }
    sessionStorage.setItem("porchlight-unlocked", jwk);
  }
  const sealed = (bytes) => bytes.length >= 4 && String.fromCharCode(...bytes.slice(0, 4)) === "PLS1";
  /// Opens a sealed item with this browser's key: `{plaintext, complete, media}`. With `expect`
  /// (`{kind, media}`, or `{kind, match}` a pattern for the media id), the item must be the
  /// one asked for: the sync module cannot serve an old clip under a new event's id.
  async function openItem(bytes, expect) {
    if (!sealed(bytes)) throw new Error("not a sealed item");
    const header = porchlightSealed.parse(bytes).header;
    if (expect && (header.kind !== expect.kind || (expect.media !== undefined && header.media !== expect.media) || (expect.match && !expect.match.test(header.media)))) {
      throw new Error("this is " + header.kind + " " + header.media + ", not the " + expect.kind + " asked for");
    }
    const held = await key();
    if (!held) { document.getElementById("unlock")?.removeAttribute("hidden"); throw new Error("sealed: unlock with your passphrase"); }
    const opened = await porchlightSealed.open(bytes, held.privateKey, held.point);
    return { plaintext: opened.plaintext, complete: opened.complete, media: header.media };
  }
  /// The plaintext of `bytes`: as they are when not sealed (kept from before sealing), opened
  /// with this browser's key and checked against `expect` when sealed.
  async function open(bytes, expect) {
    if (!sealed(bytes)) return bytes;
    return (await openItem(bytes, expect)).plaintext;
  }
  /// The media id a `/media/<device>/<id>` address asks for.
  const asked = (address) => decodeURIComponent(address.split("?")[0].split("/").pop());
  /// A command for the doorbell, signed with this browser's key (docs/privacy.md,
  /// Owner-signed commands): the JSON body `{signed, signature}` to send. The doorbell acts
  /// only on what its owner signed, within two minutes and once.
  async function sign(device, name, fields) {
    const jwk = sessionStorage.getItem("porchlight-unlocked"), held = JSON.parse(localStorage.getItem("porchlight-key") || "null");
    if (!jwk || !held) {
      document.getElementById("unlock")?.removeAttribute("hidden");
      throw new Error("unlock this browser's key first: it signs every command to the doorbell");
    }
    const d = JSON.parse(jwk);
    const signing = await crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", d: d.d, x: d.x, y: d.y }, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    const nonce = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    const text = JSON.stringify(Object.assign({ v: 1, device, name, at: Date.now(), nonce, key: held.id }, fields));
    const message = new TextEncoder().encode("porchlight command v1\n" + text);
    const signature = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, signing, message));
    return JSON.stringify({ signed: text, signature: btoa(String.fromCharCode(...signature)) });
  }
  return { key, unlock, open, openItem, sealed, asked, sign };
})();

// A snapshot that does not load as an image is sealed: fetch it, open it, show it.
document.addEventListener("error", async (event) => {
  const img = event.target;
  if (!(img instanceof HTMLImageElement) || !img.getAttribute("src")?.startsWith("/media/") || img.dataset.opened) return;
  img.dataset.opened = "trying";
  try {
    const bytes = new Uint8Array(await (await fetch(img.getAttribute("src"))).arrayBuffer());
    const plain = await porchlightMedia.open(bytes, { kind: "snapshot", media: porchlightMedia.asked(img.getAttribute("src")) });
    img.src = URL.createObjectURL(new Blob([plain], { type: "image/jpeg" }));
    img.dataset.opened = "yes";
  } catch (error) {
    img.alt = "Sealed snapshot: " + error.message;
    img.dataset.opened = "locked";
  }
}, true);

function unlockForm() {
  const form = document.getElementById("unlock");
  if (!form) return;
  if (localStorage.getItem("porchlight-key") && !sessionStorage.getItem("porchlight-unlocked")) form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const state = document.getElementById("unlock-state");
    state.textContent = "Unlocking…";
    try {
      await porchlightMedia.unlock(document.getElementById("unlock-passphrase").value);
      location.reload();
    } catch (error) { state.textContent = "Not unlocked: " + error.message; }
  });
  document.querySelector('form[action="/logout"]')?.addEventListener("submit", () => sessionStorage.removeItem("porchlight-unlocked"));
}

async function player() {
  const box = document.getElementById("player");
  if (!box) return;
  const canvas = document.getElementById("clip-canvas"), progress = document.getElementById("clip-progress");
  const label = document.getElementById("clip-time"), button = document.getElementById("play");
  // A POST: opening a clip is an access-log entry, which no GET writes.
  const response = await fetch(box.dataset.source, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } });
  if (!response.ok) { label.textContent = "Cannot load the clip (" + response.status + ")."; return; }
  let bytes, complete = true;
  const sealedBytes = new Uint8Array(await response.arrayBuffer());
  try {
    if (box.dataset.wrapped) bytes = await openShared(sealedBytes, box.dataset.wrapped);
    else if (!porchlightMedia.sealed(sealedBytes)) bytes = sealedBytes;
    else ({ plaintext: bytes, complete } = await porchlightMedia.openItem(sealedBytes, { kind: "clip", media: porchlightMedia.asked(box.dataset.source) }));
  }
  catch (error) { label.textContent = "Cannot open the clip: " + error.message; return; }
  share(sealedBytes);
  const frames = parseClip(bytes);
  const duration = frames.length ? frames[frames.length - 1].time : 0;
  const state = window.porchlightPlayer = { frames: frames.length, duration, currentTime: 0, playing: false, ended: false, complete };
  label.textContent = frames.length + " frames, " + duration.toFixed(1) + " s" + (complete ? "" : " (truncated: the clip ends before its last part)");
  if (!frames.length) return;
  await drawJPEG(canvas, frames[0].data);
  let timer = null;
  const play = () => {
    if (state.playing) { state.playing = false; clearTimeout(timer); button.textContent = "Play"; return; }
    state.playing = true; state.ended = false; button.textContent = "Pause";
    let index = Math.max(0, frames.findIndex((f) => f.time >= state.currentTime));
    if (index >= frames.length - 1) index = 0;
    const started = performance.now() - frames[index].time * 1000;
    const step = async () => {
      if (!state.playing) return;
      await drawJPEG(canvas, frames[index].data);
      state.currentTime = frames[index].time;
      progress.value = duration ? state.currentTime / duration : 1;
      label.textContent = state.currentTime.toFixed(1) + " / " + duration.toFixed(1) + " s";
      index++;
      if (index >= frames.length) { state.playing = false; state.ended = true; button.textContent = "Play"; return; }
      timer = setTimeout(step, Math.max(0, frames[index].time * 1000 - (performance.now() - started)));
    };
    step();
  };
  button.addEventListener("click", play);
}

// Sharing one clip (docs/privacy.md, Sharing): the clip's content key, wrapped under a new
// random secret that goes only into the link's fragment, which browsers never send.
const shareInfo = (media) => new TextEncoder().encode("porchlight share v1 " + media);
const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const fromBase64url = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));

function share(sealedBytes) {
  const button = document.getElementById("share");
  if (!button) return;
  const state = document.getElementById("share-state"), output = document.getElementById("share-url");
  button.addEventListener("click", async () => {
    if (!porchlightMedia.sealed(sealedBytes)) { state.textContent = "Only a sealed clip can be shared: make a key first."; return; }
    state.textContent = "Making the link…";
    try {
      const held = await porchlightMedia.key();
      if (!held) throw new Error("unlock with your passphrase first");
      const raw = await porchlightSealed.contentKey(sealedBytes, held.privateKey, held.point);
      const secret = crypto.getRandomValues(new Uint8Array(32)), iv = crypto.getRandomValues(new Uint8Array(12));
      const wrapping = await crypto.subtle.importKey("raw", secret, "AES-GCM", false, ["encrypt"]);
      const media = porchlightSealed.parse(sealedBytes).header.media;
      const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: shareInfo(media) }, wrapping, raw));
      const answer = await fetch(location.pathname + "/share", { method: "POST", headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" },
        body: JSON.stringify({ wrappedKey: btoa(String.fromCharCode(...iv, ...wrapped)), hours: Number(document.getElementById("share-hours").value) }) });
      if (!answer.ok) throw new Error(await answer.text());
      const made = await answer.json();
      output.value = location.origin + made.path + "#" + base64url(secret);
      output.hidden = false; output.select();
      state.textContent = "Anyone with this link can watch this clip until " + made.until + ". Revoke it on the Shares page.";
    } catch (error) { state.textContent = "No link was made: " + error.message; }
  });
}

async function openShared(sealedBytes, wrappedText) {
  const secret = location.hash.length > 1 ? fromBase64url(location.hash.slice(1)) : null;
  if (!secret) throw new Error("the link has no key (the part after #)");
  const wrapped = Uint8Array.from(atob(wrappedText), (c) => c.charCodeAt(0));
  const unwrapping = await crypto.subtle.importKey("raw", secret, "AES-GCM", false, ["decrypt"]);
  const media = porchlightSealed.parse(sealedBytes).header.media;
  let raw;
  try { raw = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: wrapped.slice(0, 12), additionalData: shareInfo(media) }, unwrapping, wrapped.slice(12))); }
  catch (_) { throw new Error("the link's key does not open this clip"); }
  return (await porchlightSealed.openWithKey(sealedBytes, raw)).plaintext;
}

// Live view: asks the doorbell to stream, then draws length-prefixed JPEGs as they come.
// Leaving the page aborts the stream; the sync module then stops the doorbell's stream.
function live() {
  const box = document.getElementById("live");
  if (!box) return;
  const canvas = document.getElementById("live-canvas"), state = document.getElementById("live-state");
  const start = document.getElementById("live-start"), stop = document.getElementById("live-stop");
  let controller = null, frames = 0, liveStream = null, liveNext = 0;
  const end = (text) => {
    controller?.abort(); controller = null;
    start.disabled = false; stop.disabled = true; state.textContent = text;
  };
  start.addEventListener("click", async () => {
    start.disabled = true; state.textContent = "Starting…";
    liveStream = null; liveNext = 0;
    const device = box.dataset.device;
    let body;
    try { body = await porchlightMedia.sign(device, "live-start", { maxSeconds: Number(box.dataset.max) }); }
    catch (error) { end("Not started: " + error.message + "."); return; }
    const answer = await fetch("/live/" + device + "/start", { method: "POST", headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" }, body });
    if (!answer.ok) { end("The doorbell refused: " + await answer.text()); return; }
    const { ticket } = await answer.json();
    controller = new AbortController(); stop.disabled = false;
    try {
      const response = await fetch("/live/" + device + "/stream?ticket=" + encodeURIComponent(ticket), { signal: controller.signal });
      const reader = response.body.getReader();
      let buffer = new Uint8Array(0);
      state.textContent = "Live.";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const joined = new Uint8Array(buffer.length + value.length);
        joined.set(buffer); joined.set(value, buffer.length); buffer = joined;
        while (buffer.length >= 4) {
          const length = ((buffer[0] << 24) >>> 0) + (buffer[1] << 16) + (buffer[2] << 8) + buffer[3];
          if (buffer.length < 4 + length) break;
          const jpeg = buffer.slice(4, 4 + length);
          buffer = buffer.slice(4 + length);
          let plain;
          // Each frame is its own item, live-<stream>-<n>: one stream, in order, none twice.
          try {
            const item = await porchlightMedia.openItem(jpeg, { kind: "live", match: /^live-[^-]+-[0-9]+$/ });
            const [, stream, number] = item.media.split("-");
            if (liveStream === null) liveStream = stream;
            if (stream !== liveStream || Number(number) < liveNext) throw new Error("refused a frame out of order or replayed (" + item.media + ")");
            liveNext = Number(number) + 1;
            plain = item.plaintext;
          }
          catch (error) { end("The live view is sealed: " + error.message + "."); return; }
          await drawJPEG(canvas, plain);
          canvas.dataset.frames = String(++frames);
        }
      }
      end("The live view ended (time limit reached).");
    } catch (error) {
      if (controller) end("The live view stopped: " + error.message);
    }
  });
  stop.addEventListener("click", () => end("Stopped."));
  window.addEventListener("pagehide", () => controller?.abort());
}

// Talk: one WebSocket per session. The door's audio plays from the moment it opens; the
// microphone goes out only while "Hold to talk" is pressed or "Keep talking" is ticked.
// Audio is 16 kHz mono 16-bit in 20 ms frames, each with a sequence number, sealed end to
// end both ways (docs/privacy.md, Talk): the page makes the key for its voice, wraps it for
// the doorbell's talk key inside the talk-start it signs, and opens the door's audio with
// the key the doorbell sealed for this browser's key.
function talk() {
  const box = document.getElementById("talk");
  if (!box) return;
  const hold = document.getElementById("talk-hold"), toggle = document.getElementById("talk-toggle");
  const endButton = document.getElementById("talk-end"), state = document.getElementById("talk-state");
  let socket = null, context = null, media = null, sending = false, sequence = 0, sent = 0, heard = 0;
  const end = (text) => {
    socket?.close(); socket = null;
    media?.getTracks().forEach((track) => track.stop()); media = null;
    context?.close(); context = null;
    sending = false; toggle.checked = false; endButton.disabled = true; state.textContent = text;
  };
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const base64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  // One session at a time: a second press while the first is still connecting joins it.
  let opening = null;
  const open = () => {
    if (!opening) opening = connect().finally(() => { opening = null; });
    return opening;
  };
  const connect = async () => {
    if (socket) return;
    state.textContent = "Connecting…";
    const device = box.dataset.device, encoder = new TextEncoder();
    const session = hex(crypto.getRandomValues(new Uint8Array(16)));
    const voiceKey = crypto.getRandomValues(new Uint8Array(16));
    let signed, held;
    try {
      if (!box.dataset.talkKey) throw new Error("the doorbell has not published its talk key yet (it does once connected)");
      held = await porchlightMedia.key();
      if (!held) { document.getElementById("unlock")?.removeAttribute("hidden"); throw new Error("unlock this browser's key first: talk is sealed end to end"); }
      const wrapped = await porchlightSealed.wrap(voiceKey, base64(box.dataset.talkKey), encoder.encode("porchlight talk v1 " + session), encoder.encode("owner to door"));
      signed = await porchlightMedia.sign(device, "talk-start", { session, talk: wrapped });
      context = new AudioContext({ sampleRate: 16000 });
      await context.audioWorklet.addModule("/static/talk-worklet.js");
      media = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 } });
    } catch (error) { end("Cannot talk: " + error.message); return; }
    const toDoor = await porchlightSealed.talk(voiceKey, 1);
    let fromDoor = null;
    const mic = new AudioWorkletNode(context, "porchlight-mic", { numberOfOutputs: 0 });
    context.createMediaStreamSource(media).connect(mic);
    const speaker = new AudioWorkletNode(context, "porchlight-speaker", { outputChannelCount: [1] });
    speaker.connect(context.destination);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/live/" + device + "/talk?csrf=" + encodeURIComponent(csrf()));
    socket.binaryType = "arraybuffer";
    endButton.disabled = false;
    socket.addEventListener("open", () => {
      socket.send(signed);
      state.textContent = sending ? "Talking…" : "Connected: you hear the door. Hold to talk, or tick Keep talking.";
    });
    socket.addEventListener("close", (event) => { if (socket) end(event.reason || "Talk ended."); });
    // Each frame is opened in the order it came: the first is the header with the door's key.
    let incoming = Promise.resolve();
    socket.addEventListener("message", (event) => {
      if (!(event.data instanceof ArrayBuffer)) return;
      const bytes = new Uint8Array(event.data);
      incoming = incoming.then(async () => {
        if (!fromDoor) {
          // The header, then its HMAC under this page's voice key: made by the doorbell that
          // opened the voice key, not by the relay, which can seal a header for our keys.
          const headerEnd = 8 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(4);
          if (bytes.length !== headerEnd + 32) throw new Error("the door's answer has no proof");
          const proofKey = await crypto.subtle.importKey("raw", voiceKey, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
          const signedHeader = new Uint8Array([...encoder.encode("porchlight talk header v1\n"), ...bytes.slice(0, headerEnd)]);
          if (!(await crypto.subtle.verify("HMAC", proofKey, bytes.slice(headerEnd), signedHeader))) throw new Error("the door's answer was not made by the doorbell");
          const header = porchlightSealed.parse(bytes).header;
          if (header.kind !== "talk" || header.media !== "talk-" + session) throw new Error("the door's audio is not this session's");
          fromDoor = await porchlightSealed.talk(await porchlightSealed.contentKey(bytes.slice(0, headerEnd), held.privateKey, held.point), 0);
          return;
        }
        const { pcm } = await fromDoor.open(bytes);
        const view = new DataView(pcm.buffer), samples = new Float32Array(320);
        for (let i = 0; i < 320; i++) samples[i] = view.getInt16(2 * i, true) / 32768;
        speaker.port.postMessage(samples);
        box.dataset.heard = String(++heard);
      }).catch((error) => { box.dataset.refused = String(Number(box.dataset.refused || 0) + 1); state.textContent = "Refused the door's audio: " + error.message; });
    });
    let outgoing = Promise.resolve();
    mic.port.onmessage = (event) => {
      // Nothing goes out before the door has answered with its header: a talk-start the
      // doorbell refused carries none of the owner's voice to anyone.
      if (!sending || !fromDoor || socket?.readyState !== WebSocket.OPEN) return;
      const pcm = new Uint8Array(640), view = new DataView(pcm.buffer), number = sequence++;
      event.data.forEach((sample, i) => view.setInt16(2 * i, sample, true));
      outgoing = outgoing.then(async () => {
        const frame = await toDoor.seal(number, pcm);
        if (socket?.readyState !== WebSocket.OPEN) return;
        socket.send(frame);
        box.dataset.sent = String(++sent);
      });
    };
  };
  const talking = (on) => { sending = on; if (socket) state.textContent = on ? "Talking…" : "Listening."; };
  hold.addEventListener("pointerdown", async () => { await open(); talking(true); });
  for (const type of ["pointerup", "pointerleave", "pointercancel"]) {
    hold.addEventListener(type, () => { if (!toggle.checked) talking(false); });
  }
  hold.addEventListener("keydown", async (event) => { if (event.key === " " && !event.repeat) { await open(); talking(true); } });
  hold.addEventListener("keyup", (event) => { if (event.key === " " && !toggle.checked) talking(false); });
  toggle.addEventListener("change", async () => { if (toggle.checked) await open(); talking(toggle.checked); });
  endButton.addEventListener("click", () => end("Talk ended."));
  window.addEventListener("pagehide", () => end("Talk ended."));
  const replyState = document.getElementById("reply-state");
  for (const button of document.querySelectorAll("button.reply")) {
    button.addEventListener("click", async () => {
      let body;
      try { body = await porchlightMedia.sign(box.dataset.device, "quick-reply", { reply: button.dataset.reply }); }
      catch (error) { replyState.textContent = "Not played: " + error.message; return; }
      const answer = await fetch("/live/" + box.dataset.device + "/reply", { method: "POST", headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" }, body });
      replyState.textContent = answer.ok ? "Playing “" + button.dataset.reply + "” at the door." : "Not played: " + await answer.text();
    });
  }
}

// Keys: a key pair made here with WebCrypto; the private half is kept in this browser's
// storage, encrypted with AES-GCM under a key derived from the passphrase (PBKDF2-SHA-256,
// 600,000 rounds); only the public half goes to the sync module. The first key also
// brings a recovery key, shown once.
function keys() {
  const box = document.getElementById("new-key");
  if (!box) return;
  const subtle = crypto.subtle, state = document.getElementById("key-state");
  const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
  const keyID = async (raw) => Array.from(new Uint8Array(await subtle.digest("SHA-256", raw)).slice(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  const held = JSON.parse(localStorage.getItem("porchlight-key") || "null");
  if (held) {
    document.getElementById("key-here").hidden = false;
    document.getElementById("key-here-id").textContent = held.id + " (" + held.label + ")";
  }
  const register = async (label, raw, signature) => {
    const answer = await fetch("/keys", { method: "POST", headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" }, body: JSON.stringify({ label, publicKey: b64(raw), signature: signature && b64(signature) }) });
    if (!answer.ok) throw new Error(await answer.text());
  };
  // The recovery key signs every other key (docs/privacy.md, Key trust); doorbells seal only
  // for keys it signed. WebCrypto signs ECDSA as raw r‖s.
  const b64url = (bytes) => b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const endorse = async (recoveryJWK, raw) => {
    const signing = await subtle.importKey("jwk", { kty: "EC", crv: "P-256", d: recoveryJWK.d, x: recoveryJWK.x, y: recoveryJWK.y }, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    const message = new Uint8Array([...new TextEncoder().encode("porchlight owner key v1\n"), ...new Uint8Array(raw)]);
    return subtle.sign({ name: "ECDSA", hash: "SHA-256" }, signing, message);
  };
  const recoveryFromText = () => {
    const point = Uint8Array.from(atob(box.dataset.recoveryPoint), (c) => c.charCodeAt(0));
    const d = document.getElementById("key-recovery").value.trim().replace(/^porchlight-recovery-key:/, "");
    return { d, x: b64url(point.slice(1, 33)), y: b64url(point.slice(33, 65)) };
  };
  document.getElementById("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const label = document.getElementById("key-label").value.trim();
    const passphrase = document.getElementById("key-passphrase").value;
    if (passphrase !== document.getElementById("key-repeat").value) { state.textContent = "The passphrases differ."; return; }
    state.textContent = "Making the key…";
    try {
      const pair = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
      const raw = await subtle.exportKey("raw", pair.publicKey);
      const salt = crypto.getRandomValues(new Uint8Array(16)), iv = crypto.getRandomValues(new Uint8Array(12));
      const base = await subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveKey"]);
      const wrapping = await subtle.deriveKey({ name: "PBKDF2", salt, iterations: 600000, hash: "SHA-256" }, base, { name: "AES-GCM", length: 256 }, false, ["encrypt"]);
      const secret = new TextEncoder().encode(JSON.stringify(await subtle.exportKey("jwk", pair.privateKey)));
      const sealed = await subtle.encrypt({ name: "AES-GCM", iv }, wrapping, secret);
      let recoveryJWK, recoveryRaw, newRecovery = false;
      if (box.dataset.recovery !== "true") {
        const recovery = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
        recoveryRaw = await subtle.exportKey("raw", recovery.publicKey);
        recoveryJWK = await subtle.exportKey("jwk", recovery.privateKey);
        // Signed by itself: the sync module takes no key without a signature.
        await register("recovery", recoveryRaw, await endorse(recoveryJWK, recoveryRaw));
        newRecovery = true;
      } else {
        recoveryJWK = recoveryFromText();
      }
      let signature;
      try { signature = await endorse(recoveryJWK, raw); }
      catch (_) { throw new Error("that is not a recovery key"); }
      await register(label, raw, signature);
      const id = await keyID(raw);
      localStorage.setItem("porchlight-key", JSON.stringify({ id, label, publicKey: b64(raw), salt: b64(salt), iv: b64(iv), data: b64(sealed) }));
      if (newRecovery) {
        document.getElementById("recovery-text").textContent = "porchlight-recovery-key:" + recoveryJWK.d;
        const fingerprint = (await keyID(recoveryRaw)).match(/.{4}/g).join("-");
        document.getElementById("recovery-pin").textContent = "On each doorbell, pin it: porchlightctl keys trust " + fingerprint;
        document.getElementById("recovery").hidden = false;
      }
      state.textContent = "This browser now holds key " + id + ". Reload the page to see it listed.";
    } catch (error) {
      state.textContent = "The key was not made: " + error.message;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => { unlockForm(); timeline(); player(); live(); talk(); keys(); });
