#!/usr/bin/env python3
"""A page's talk WebSocket as a hostile page would open it, for HostileClientTests: the session
cookie, the CSRF token and the site's own Origin, then FIRST as a text message (if given), then
nothing. Prints the server's close reason once the server closes.

    talk-socket.py PORT COOKIE CSRF DEVICE [FIRST]"""
import base64, os, socket, ssl, struct, sys, urllib.parse

port, cookie, csrf, device = sys.argv[1:5]
first = sys.argv[5] if len(sys.argv) > 5 else None
context = ssl.create_default_context()
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
raw = context.wrap_socket(socket.create_connection(("localhost", int(port)), timeout=60), server_hostname="localhost")
raw.sendall((f"GET /live/{device}/talk?csrf={urllib.parse.quote(csrf, safe='')} HTTP/1.1\r\n"
             f"Host: localhost:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
             f"Origin: https://localhost:{port}\r\nCookie: {cookie}\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    head += raw.recv(1)
if b" 101 " not in head.split(b"\r\n", 1)[0]:
    sys.exit("not upgraded: " + head.split(b"\r\n", 1)[0].decode())
if first is not None:
    payload, mask = first.encode(), os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    raw.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
buffered = b""
while True:
    piece = raw.recv(65536)
    if not piece:
        sys.exit("closed without a close frame")
    buffered += piece
    while len(buffered) >= 2:
        length, offset = buffered[1] & 0x7F, 2
        if length == 126:
            length, offset = struct.unpack(">H", buffered[2:4])[0], 4
        if len(buffered) < offset + length:
            break
        opcode, body = buffered[0] & 0x0F, buffered[offset:offset + length]
        buffered = buffered[offset + length:]
        if opcode == 0x8:
            print(body[2:].decode())
            sys.exit(0)
