#!/usr/bin/env python3
"""An MQTT subscriber independent of the code under test (PyPI's paho-mqtt): connects to the
broker, subscribes to TOPIC at QoS 1, prints {"ready": true} once subscribed, then one JSON line
per message.

usage: subscriber.py HOST PORT USERNAME PASSWORD TOPIC"""
import json
import sys

import paho.mqtt.client as mqtt

host, port, username, password, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


def on_connect(client, userdata, flags, reason, properties):
    client.subscribe(topic, qos=1)


def on_subscribe(client, userdata, mid, reasons, properties):
    print(json.dumps({"ready": True}), flush=True)


def on_message(client, userdata, message):
    print(json.dumps({"topic": message.topic, "payload": message.payload.decode("utf-8", "replace"),
                      "qos": message.qos, "retain": bool(message.retain)}), flush=True)


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
client.username_pw_set(username, password)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(host, port, keepalive=30)
client.loop_forever()
