#!/usr/bin/env python3
"""An MQTT client independent of the code under test (PyPI's paho-mqtt): connects to the broker
(over TLS with --cafile), subscribes to each TOPIC at QoS 1, prints {"ready": true} once all are
subscribed, then one JSON line per message: topic, payload (UTF-8, or "" when it is not), size,
retain, jpeg (starts with FF D8) and at (CLOCK_MONOTONIC seconds on receipt, for latency).

With --session ID, the broker keeps the session while this client is away, and it reconnects
by itself. Each JSON line on stdin, {"topic", "payload", "retain"}, is published at QoS 1.

usage: subscriber.py [--host H] --port P --username U --password W [--cafile F] [--session ID] TOPIC..."""
import argparse
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--username", required=True)
parser.add_argument("--password", required=True)
parser.add_argument("--cafile")
parser.add_argument("--session", help="a client id whose session the broker keeps (clean session off)")
parser.add_argument("topics", nargs="+")
args = parser.parse_args()
pending = set()
lock = threading.Lock()


def emit(obj):
    with lock:
        print(json.dumps(obj), flush=True)


def on_connect(client, userdata, flags, reason, properties):
    for topic in args.topics:
        result, mid = client.subscribe(topic, qos=1)
        pending.add(mid)


def on_subscribe(client, userdata, mid, reasons, properties):
    pending.discard(mid)
    if not pending:
        emit({"ready": True})


def on_message(client, userdata, message):
    at = time.clock_gettime(time.CLOCK_MONOTONIC)
    try:
        text = message.payload.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    emit({"topic": message.topic, "payload": text, "size": len(message.payload), "qos": message.qos,
          "retain": bool(message.retain), "jpeg": message.payload[:2] == b"\xff\xd8", "at": at})


if args.session:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.session, clean_session=False,
                         protocol=mqtt.MQTTv311)
else:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
client.reconnect_delay_set(min_delay=1, max_delay=2)
client.username_pw_set(args.username, args.password)
if args.cafile:
    client.tls_set(ca_certs=args.cafile)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(args.host, args.port, keepalive=30)
client.loop_start()
for line in sys.stdin:
    request = json.loads(line)
    client.publish(request["topic"], request["payload"], qos=1, retain=bool(request.get("retain")))
# Input closed: keep listening until killed.
threading.Event().wait()
