#!/usr/bin/env python3
"""A push service on loopback for the tests, independent of the code under test.

It takes Web Push requests (RFC 8030), decrypts each body with PyPI's http-ece (RFC 8291,
aes128gcm) for the browser key given on the command line, checks the VAPID token (RFC 8292)
with the cryptography package, and prints one JSON line per request on stdout. The path
chooses the answer: /gone answers 410, /missing 404, /busy 429 with Retry-After: 1 the first
time and 201 after, /fail 500 always; any other path 201.

usage: push_endpoint.py BROWSER_PRIVATE_KEY_HEX AUTH_SECRET_HEX
The first line printed is {"port": N}.
"""
import base64
import http.server
import json
import sys
import threading
import time

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

browser_key = ec.derive_private_key(int(sys.argv[1], 16), ec.SECP256R1())
auth_secret = bytes.fromhex(sys.argv[2])
seen = {}
lock = threading.Lock()
out = threading.Lock()


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_vapid(header, origin):
    """What the token says and whether it holds, as a push service would check it."""
    result = {"vapid_ok": False}
    if not header.startswith("vapid "):
        result["vapid_error"] = "not a vapid authorization"
        return result
    params = dict(part.strip().split("=", 1) for part in header[len("vapid "):].split(","))
    token, key = params.get("t", ""), params.get("k", "")
    try:
        head, body, signature = token.split(".")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url(key))
        raw = b64url(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, (head + "." + body).encode(), ec.ECDSA(hashes.SHA256()))
        claims = json.loads(b64url(body))
        header_json = json.loads(b64url(head))
    except (ValueError, InvalidSignature) as error:
        result["vapid_error"] = repr(error)
        return result
    result.update(
        vapid_ok=header_json.get("alg") == "ES256" and len(raw) == 64,
        aud=claims.get("aud"),
        aud_ok=claims.get("aud") == origin,
        exp_in=claims.get("exp", 0) - int(time.time()),
        sub=claims.get("sub"),
        key=key,
    )
    return result


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with lock:
            count = seen.get(self.path, 0) + 1
            seen[self.path] = count
        record = {
            "path": self.path,
            "count": count,
            "time": time.monotonic(),
            "ttl": self.headers.get("TTL"),
            "urgency": self.headers.get("Urgency"),
            "topic": self.headers.get("Topic"),
            "encoding": self.headers.get("Content-Encoding"),
            "size": len(body),
        }
        record.update(check_vapid(self.headers.get("Authorization", ""), "http://%s" % self.headers["Host"]))
        try:
            record["payload"] = http_ece.decrypt(
                body, private_key=browser_key, auth_secret=auth_secret, version="aes128gcm"
            ).decode()
        except Exception as error:  # noqa: BLE001 - any failure to decrypt is the finding
            record["decrypt_error"] = repr(error)
        status, extra = 201, {}
        if self.path.endswith("/gone"):
            status = 410
        elif self.path.endswith("/missing"):
            status = 404
        elif self.path.endswith("/busy") and count == 1:
            status, extra = 429, {"Retry-After": "1"}
        elif self.path.endswith("/fail"):
            status = 500
        record["status"] = status
        with out:
            print(json.dumps(record), flush=True)
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"port": server.server_address[1]}), flush=True)
server.serve_forever()
