#!/usr/bin/env python3
"""The owner, for the system test, through the sync module's page as a browser uses it (session
cookie, CSRF token, same-site Origin). Standard library, the openssl command for keys, and Python's
cryptography for sealed talk.

    owner.py OWNER PASSWORD make-key PEM          makes a recovery key (kept in PEM) and prints its
                                                  recovery text, public point and fingerprint
    owner.py OWNER PASSWORD add-key LABEL POINT PEM
                                                  registers a public key signed by the recovery key
                                                  in PEM, as the page does (POST /keys)
    owner.py OWNER PASSWORD talk DEVICE SECONDS FRAMES PEM
                                                  a talk session sealed end to end as the page runs it,
                                                  signed with the owner key in PEM (Python's
                                                  cryptography for HPKE and AES-GCM): sends a 440 Hz
                                                  tone to the door for SECONDS after the door's first
                                                  frame arrives (within 60 s), and on until FRAMES of
                                                  the door's have arrived (at most 60 s more), and
                                                  prints {"received", "peak", "sent", "first_frame_s",
                                                  "refused"} as JSON"""
import base64
import http.client
import json
import math
import os
import re
import socket
import ssl
import struct
import sys
import time
import urllib.parse

HOST, PORT = "localhost", 8443
owner, password, command = sys.argv[1], sys.argv[2], sys.argv[3]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE  # the module's own certificate; the doorbell pins it, not this probe


def request(method, path, body=None, headers=None):
    # Generous: a debug build's bcrypt in a starved VM takes many seconds.
    connection = http.client.HTTPSConnection(HOST, PORT, context=context, timeout=120)
    connection.request(method, path, body, headers or {})
    response = connection.getresponse()
    return response, response.read().decode("utf-8", "replace")


def cookie(response, name):
    for header, value in response.getheaders():
        if header.lower() == "set-cookie" and value.startswith(name + "="):
            return value.split(";", 1)[0]
    raise SystemExit(f"no {name} cookie")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_signature(der):
    # ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } as WebCrypto's raw r||s (32 bytes each).
    assert der[0] == 0x30
    at = 2 if der[1] < 0x80 else 3
    values = []
    for _ in range(2):
        assert der[at] == 0x02
        length = der[at + 1]
        values.append(der[at + 2:at + 2 + length].lstrip(b"\0").rjust(32, b"\0"))
        at += 2 + length
    return values[0] + values[1]


if command == "make-key":
    # A P-256 key: the private scalar as the recovery text, the uncompressed point in base64, and
    # the fingerprint (the first 16 bytes of the point's SHA-256, hex in groups of four).
    import hashlib
    import subprocess
    pem = subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout"],
                         capture_output=True, check=True).stdout
    with open(sys.argv[4], "wb") as file:
        file.write(pem)
    text = subprocess.run(["openssl", "ec", "-text", "-noout"], input=pem, capture_output=True,
                          check=True).stdout.decode()
    blocks = re.findall(r"(priv|pub):\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    values = {name: bytes.fromhex(re.sub(r"[\s:]", "", hexdump)) for name, hexdump in blocks}
    private = values["priv"].rjust(32, b"\0")[-32:]
    digest = hashlib.sha256(values["pub"]).hexdigest()[:32]
    fingerprint = "-".join(digest[i:i + 4] for i in range(0, 32, 4))
    print("porchlight-recovery-key:" + b64url(private), base64.b64encode(values["pub"]).decode(), fingerprint)
    sys.exit(0)

response, page = request("GET", "/login")
login_cookie = cookie(response, "porchlight_login")
token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
form = urllib.parse.urlencode({"csrf": token, "name": owner, "password": password})
response, _ = request("POST", "/login", form, {
    "Content-Type": "application/x-www-form-urlencoded", "Cookie": login_cookie})
session = cookie(response, "porchlight_session")
_, page = request("GET", "/", headers={"Cookie": session})
csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)

if command == "add-key":
    import subprocess
    message = b"porchlight owner key v1\n" + base64.b64decode(sys.argv[5])
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", sys.argv[6]], input=message,
                         capture_output=True, check=True).stdout
    signature = base64.b64encode(raw_signature(der)).decode()
    body = json.dumps({"label": sys.argv[4], "publicKey": sys.argv[5], "signature": signature})
    response, answer = request("POST", "/keys", body, {
        "Cookie": session, "X-CSRF-Token": csrf, "Content-Type": "application/json"})
    print(response.status, answer)
    sys.exit(0 if response.status == 200 else 1)

device, seconds, wanted = sys.argv[4], float(sys.argv[5]), int(sys.argv[6])
import hashlib
import hmac
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

with open(sys.argv[7], "rb") as file:
    owner_key = serialization.load_pem_private_key(file.read(), password=None)
owner_point = owner_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
owner_id = hashlib.sha256(owner_point).hexdigest()[:32]

# RFC 9180 base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM: what the page's
# sealed.js does with WebCrypto.
KEM, SUITE = b"KEM\x00\x10", b"HPKE\x00\x10\x00\x01\x00\x01"


def extract(suite, salt, label, ikm):
    return hmac.new(salt or bytes(32), b"HPKE-v1" + suite + label + ikm, hashlib.sha256).digest()


def expand(suite, prk, label, info, length):
    return hmac.new(prk, struct.pack(">H", length) + b"HPKE-v1" + suite + label + info + b"\x01",
                    hashlib.sha256).digest()[:length]


def schedule(dh, enc, recipient, info):
    shared = expand(KEM, extract(KEM, b"", b"eae_prk", dh), b"shared_secret", enc + recipient, 32)
    context = b"\x00" + extract(SUITE, b"", b"psk_id_hash", b"") + extract(SUITE, b"", b"info_hash", info)
    secret = extract(SUITE, shared, b"secret", b"")
    return expand(SUITE, secret, b"key", context, 16), expand(SUITE, secret, b"base_nonce", context, 12)


def point_key(point):
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def talk_nonce(direction, sequence):
    return struct.pack(">I", direction) + bytes(4) + struct.pack(">I", sequence)


# The doorbell's talk key, as the live page shows it once the doorbell has reported it.
talk_key = None
for _ in range(60):
    _, page = request("GET", f"/live/{device}", headers={"Cookie": session})
    found = re.search(r'data-talk-key="([^"]+)"', page)
    if found:
        talk_key = base64.b64decode(found.group(1))
        break
    time.sleep(1)
if talk_key is None:
    raise SystemExit("the live page shows no talk key for the doorbell")
talk_session = os.urandom(16).hex()
voice_key = os.urandom(16)
ephemeral = ec.generate_private_key(ec.SECP256R1())
enc = ephemeral.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
wrap_key, wrap_nonce = schedule(ephemeral.exchange(ec.ECDH(), point_key(talk_key)), enc, talk_key,
                                b"porchlight talk v1 " + talk_session.encode())
wrapped = AESGCM(wrap_key).encrypt(wrap_nonce, voice_key, b"owner to door")
signed = json.dumps({"v": 1, "device": device, "name": "talk-start", "at": int(time.time() * 1000),
                     "nonce": os.urandom(16).hex(), "key": owner_id, "session": talk_session,
                     "talk": {"enc": base64.b64encode(enc).decode(), "wrapped": base64.b64encode(wrapped).decode()}})
der = owner_key.sign(b"porchlight command v1\n" + signed.encode(), ec.ECDSA(hashes.SHA256()))
start = json.dumps({"signed": signed, "signature": base64.b64encode(raw_signature(der)).decode()})
to_door = AESGCM(voice_key)
from_door = None
# The WebSocket handshake (RFC 6455) over TLS.
raw = context.wrap_socket(socket.create_connection((HOST, PORT), timeout=120), server_hostname=HOST)
key = base64.b64encode(os.urandom(16)).decode()
raw.sendall((
    f"GET /live/{device}/talk?csrf={urllib.parse.quote(csrf)} HTTP/1.1\r\nHost: {HOST}:{PORT}\r\n"
    f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
    f"Sec-WebSocket-Version: 13\r\nOrigin: https://{HOST}:{PORT}\r\nCookie: {session}\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    head += raw.recv(1)
if b" 101 " not in head.split(b"\r\n", 1)[0]:
    raise SystemExit("talk refused: " + head.split(b"\r\n", 1)[0].decode())
buffered = b""


def next_frame():
    """A whole frame from what has arrived (reading what is there first), or None."""
    global buffered
    try:
        piece = raw.recv(65536)
        if not piece:
            raise EOFError
        buffered += piece
    except (socket.timeout, ssl.SSLWantReadError):
        pass
    if len(buffered) < 2:
        return None
    length, offset = buffered[1] & 0x7F, 2
    if length == 126:
        if len(buffered) < 4:
            return None
        length, offset = struct.unpack(">H", buffered[2:4])[0], 4
    elif length == 127:
        if len(buffered) < 10:
            return None
        length, offset = struct.unpack(">Q", buffered[2:10])[0], 10
    if len(buffered) < offset + length:
        return None
    opcode, payload = buffered[0] & 0x0F, buffered[offset:offset + length]
    buffered = buffered[offset + length:]
    return opcode, payload


def send_binary(payload, opcode=0x2):
    mask = os.urandom(4)
    header = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack(">H", len(payload)) + mask
    # The masking as one integer XOR: a byte-wise loop is too slow for real time in a slow VM.
    repeated = (mask * (len(payload) // 4 + 1))[:len(payload)]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")
    raw.sendall(header + masked)


# The owner's voice: 440 Hz (44 whole cycles in 100 ms, so five frames repeat), 20 ms
# frames with sequence numbers, paced at real time: frames that fell due while this loop was busy
# go at once, so a slow loop sends in bursts rather than slower than real time.
tone = [struct.pack("<320h", *[int(8000 * math.sin(2 * math.pi * 440 * (n * 320 + i) / 16000)) for i in range(320)])
        for n in range(5)]
send_binary(start.encode(), opcode=0x1)
raw.settimeout(0.005)
received, peak, sent, refused = 0, 0, 0, 0
started = time.monotonic()
first_frame = None  # when the door's first frame arrived: the window starts there
while True:
    now = time.monotonic()
    if first_frame is None and now - started > 60:
        break
    # A slow machine delivers fewer frames than real time: wait for the frames, not the clock.
    if first_frame is not None and now - first_frame >= seconds and (received >= wanted or now - first_frame >= 60):
        break
    while now - started >= sent * 0.02:
        send_binary(struct.pack(">I", sent) + to_door.encrypt(talk_nonce(1, sent), tone[sent % 5], None))
        sent += 1
    try:
        for _ in range(50):  # what has arrived, but never so long that sending falls behind
            frame = next_frame()
            if frame is None:
                break
            opcode, payload = frame
            if opcode == 0x2 and from_door is None:
                # The header: the door's key for this session, sealed for the owner's key.
                length = struct.unpack(">I", payload[4:8])[0]
                proof = hmac.new(voice_key, b"porchlight talk header v1\n" + payload[:8 + length], hashlib.sha256).digest()
                if not hmac.compare_digest(proof, payload[8 + length:]):
                    raise SystemExit("the door's talk header does not carry the doorbell's proof")
                header = json.loads(payload[8:8 + length])
                if header["kind"] != "talk" or header["media"] != "talk-" + talk_session:
                    raise SystemExit("the door's talk header is not this session's: " + header["media"])
                entry = next(r for r in header["recipients"] if r["key"] == owner_id)
                door_enc = base64.b64decode(entry["enc"])
                key, nonce = schedule(owner_key.exchange(ec.ECDH(), point_key(door_enc)), door_enc, owner_point,
                                      b"porchlight media v1 " + header["media"].encode())
                from_door = AESGCM(AESGCM(key).decrypt(nonce, base64.b64decode(entry["wrapped"]), owner_id.encode()))
            elif opcode == 0x2 and len(payload) == 660:
                sequence = struct.unpack(">I", payload[:4])[0]
                try:
                    pcm = from_door.decrypt(talk_nonce(0, sequence), payload[4:], None)
                except Exception:
                    refused += 1
                    continue
                received += 1
                if first_frame is None:
                    first_frame = time.monotonic()
                peak = max(peak, max(abs(s) for s in struct.unpack("<320h", pcm)))
            elif opcode == 0x8:
                raise EOFError
    except EOFError:
        break
print(json.dumps({"received": received, "peak": peak, "sent": sent, "refused": refused,
                  "first_frame_s": None if first_frame is None else round(first_frame - started, 2)}))
