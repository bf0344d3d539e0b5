// Opens sealed media (docs/privacy.md, Sealed media) in the browser with WebCrypto alone:
// RFC 9180 HPKE base mode with DHKEM(P-256, HKDF-SHA256), HKDF-SHA256 and AES-128-GCM to
// unwrap the item's content key, then the AES-GCM chunks. HKDF's labelled extract and expand
// are built on HMAC-SHA-256, since WebCrypto's HKDF does not expose the two steps. Exposes
// `porchlightSealed.open(bytes, privateKey, publicPoint)`, where `privateKey` is an ECDH P-256
// CryptoKey and `publicPoint` its uncompressed public point (65 bytes; derived from the key
// when it is extractable and the point is not given), and resolves to `{plaintext, complete}`;
// a wrong key or an altered item rejects. For sharing one clip, `contentKey` gives the item's
// raw content key (same arguments) and `openWithKey(bytes, rawKey)` opens it with that alone.
// For talk, `wrap(plaintext, point, info, aad)` is HPKE's sender side and `talk(rawKey,
// direction)` seals and opens the session's frames. For notifications (docs/notifications.md),
// `endorse(recoveryText, recoveryPoint, point, role)` signs a new key with the recovery key, and
// `notificationKey()` / `keepNotificationKey(held)` read and keep this browser's notification key
// (a non-extractable CryptoKey) in IndexedDB, where the service worker finds it too. It runs in
// pages and in the service worker alike.
"use strict";
(() => {
  const subtle = crypto.subtle, text = new TextEncoder();
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0; for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const u16 = (n) => new Uint8Array([n >> 8, n & 255]);
  const u64 = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return b; };
  const hmac = async (key, data) => {
    const k = await subtle.importKey("raw", key.length ? key : new Uint8Array(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await subtle.sign("HMAC", k, data));
  };
  const kemSuite = concat(text.encode("KEM"), u16(0x0010));
  const hpkeSuite = concat(text.encode("HPKE"), u16(0x0010), u16(0x0001), u16(0x0001));
  const extract = (suite, salt, label, ikm) => hmac(salt, concat(text.encode("HPKE-v1"), suite, text.encode(label), ikm));
  // One HMAC block is enough: every output here is at most 32 bytes.
  const expand = async (suite, prk, label, info, length) =>
    (await hmac(prk, concat(u16(length), text.encode("HPKE-v1"), suite, text.encode(label), info, new Uint8Array([1])))).slice(0, length);
  const base64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));

  /// RFC 9180's key schedule for DHKEM(P-256) in base mode: the AEAD key and nonce.
  async function schedule(dh, enc, recipient, info) {
    const eae = await extract(kemSuite, new Uint8Array(0), "eae_prk", dh);
    const shared = await expand(kemSuite, eae, "shared_secret", concat(enc, recipient), 32);
    const context = concat(new Uint8Array([0]),
      await extract(hpkeSuite, new Uint8Array(0), "psk_id_hash", new Uint8Array(0)),
      await extract(hpkeSuite, new Uint8Array(0), "info_hash", info));
    const secret = await extract(hpkeSuite, shared, "secret", new Uint8Array(0));
    return { key: await expand(hpkeSuite, secret, "key", context, 16), nonce: await expand(hpkeSuite, secret, "base_nonce", context, 12) };
  }

  /// The content key, unwrapped for `privateKey` (with its public point `recipient`, 65 bytes).
  async function unwrap(entry, info, privateKey, recipient) {
    const enc = base64(entry.enc);
    const ephemeral = await subtle.importKey("raw", enc, { name: "ECDH", namedCurve: "P-256" }, false, []);
    const dh = new Uint8Array(await subtle.deriveBits({ name: "ECDH", public: ephemeral }, privateKey, 256));
    const { key, nonce } = await schedule(dh, enc, recipient, info);
    const aead = await subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
    return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: text.encode(entry.key) }, aead, base64(entry.wrapped)));
  }

  /// HPKE base-mode seal of `plaintext` for the P-256 point `recipient` (65 bytes), as the
  /// doorbell opens it: `{enc, wrapped}` in base64.
  async function wrap(plaintext, recipient, info, aad) {
    const ephemeral = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    const enc = new Uint8Array(await subtle.exportKey("raw", ephemeral.publicKey));
    const peer = await subtle.importKey("raw", recipient, { name: "ECDH", namedCurve: "P-256" }, false, []);
    const dh = new Uint8Array(await subtle.deriveBits({ name: "ECDH", public: peer }, ephemeral.privateKey, 256));
    const { key, nonce } = await schedule(dh, enc, recipient, info);
    const aead = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
    const wrapped = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, aead, plaintext));
    return { enc: toBase64(enc), wrapped: toBase64(wrapped) };
  }

  /// One direction of a talk session (docs/privacy.md, Talk): 660-byte frames, a 4-byte
  /// sequence number and 640 bytes of PCM sealed with AES-128-GCM under the session's key,
  /// the direction (0 door to owner, 1 owner to door) and the number as the nonce. Opening
  /// refuses a frame numbered below the next one expected: replayed or reordered.
  async function talk(rawKey, direction) {
    const key = await subtle.importKey("raw", rawKey, "AES-GCM", false, ["encrypt", "decrypt"]);
    const nonce = (sequence) => { const n = new Uint8Array(12), view = new DataView(n.buffer); view.setUint32(0, direction); view.setUint32(8, sequence); return n; };
    let next = 0;
    return {
      async seal(sequence, pcm) {
        const sealed = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: nonce(sequence) }, key, pcm));
        const frame = new Uint8Array(4 + sealed.length);
        new DataView(frame.buffer).setUint32(0, sequence); frame.set(sealed, 4);
        return frame;
      },
      async open(frame) {
        if (frame.length !== 660) throw new Error("a sealed talk frame is 660 bytes, not " + frame.length);
        const sequence = new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0);
        if (sequence < next) throw new Error("talk frame " + sequence + " is replayed or out of order");
        const pcm = new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: nonce(sequence) }, key, frame.slice(4)));
        next = sequence + 1;
        return { sequence, pcm };
      },
    };
  }

  function parse(bytes) {
    if (String.fromCharCode(...bytes.slice(0, 4)) !== "PLS1") throw new Error("not a sealed media item");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerLength = view.getUint32(4);
    const headerBytes = bytes.slice(8, 8 + headerLength);
    return { view, headerLength, headerBytes, header: JSON.parse(new TextDecoder().decode(headerBytes)) };
  }

  /// The item's raw content key, unwrapped with the owner's key.
  async function contentKey(bytes, privateKey, publicPoint) {
    const { header } = parse(bytes);
    let recipient = publicPoint;
    if (!recipient) {
      const jwk = await subtle.exportKey("jwk", privateKey);
      recipient = concat(new Uint8Array([4]), base64url(jwk.x), base64url(jwk.y));
    }
    const id = Array.from(new Uint8Array(await subtle.digest("SHA-256", recipient)).slice(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
    const entry = header.recipients.find((r) => r.key === id);
    if (!entry) throw new Error("this item is sealed for other keys");
    return unwrap(entry, text.encode("porchlight media v1 " + header.media), privateKey, recipient);
  }

  async function open(bytes, privateKey, publicPoint) {
    return openWithKey(bytes, await contentKey(bytes, privateKey, publicPoint));
  }

  /// Opens the chunks with the raw content key: whole, or up to the last whole chunk.
  async function openWithKey(bytes, rawKey) {
    const { view, headerLength, headerBytes } = parse(bytes);
    const key = await subtle.importKey("raw", rawKey, "AES-GCM", false, ["decrypt"]);
    const headerHash = new Uint8Array(await subtle.digest("SHA-256", headerBytes));
    const parts = [];
    let at = 8 + headerLength, index = 0;
    while (at + 4 <= bytes.length) {
      const length = view.getUint32(at);
      if (at + 4 + length > bytes.length) break;
      const body = bytes.slice(at + 4, at + 4 + length);
      const iv = concat(new Uint8Array(4), u64(index));
      let plain = null, last = false;
      for (const flag of [0, 1]) {
        try {
          plain = new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv, additionalData: concat(headerHash, u64(index), new Uint8Array([flag])) }, key, body));
          last = flag === 1; break;
        } catch (_) { /* try the other flag */ }
      }
      if (!plain) throw new Error("chunk " + index + " does not authenticate");
      parts.push(plain); at += 4 + length; index++;
      if (last) {
        if (at !== bytes.length) throw new Error("data after the last chunk");
        return { plaintext: concat(...parts), complete: true };
      }
    }
    return { plaintext: concat(...parts), complete: false };
  }

  const base64url = (s) => base64(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));

  /// The recovery key's signature over `point` for `role` ("owner" or "notification"), as the
  /// doorbell checks it (docs/privacy.md, Key trust): ECDSA P-256, raw r‖s. `recoveryText` is
  /// the written-down recovery key, `recoveryPoint` its public point (base64).
  async function endorse(recoveryText, recoveryPoint, point, role) {
    const url = (bytes) => toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const public65 = base64(recoveryPoint);
    const d = recoveryText.trim().replace(/^porchlight-recovery-key:/, "");
    const signing = await subtle.importKey("jwk", { kty: "EC", crv: "P-256", d, x: url(public65.slice(1, 33)), y: url(public65.slice(33, 65)) },
      { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    const message = concat(text.encode(`porchlight ${role} key v1\n`), new Uint8Array(point));
    return new Uint8Array(await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, signing, message));
  }

  // This browser's notification key: {key (CryptoKey, non-extractable), point, id}.
  const database = () => new Promise((resolve, reject) => {
    const request = indexedDB.open("porchlight", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("keys");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const transact = async (mode, work) => {
    const db = await database();
    return new Promise((resolve, reject) => {
      const request = work(db.transaction("keys", mode).objectStore("keys"));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    }).finally(() => db.close());
  };
  const notificationKey = () => transact("readonly", (keys) => keys.get("notification"));
  const keepNotificationKey = (held) => transact("readwrite", (keys) => keys.put(held, "notification"));

  self.porchlightSealed = { open, contentKey, openWithKey, parse, wrap, talk, endorse, notificationKey, keepNotificationKey, toBase64 };
})();
