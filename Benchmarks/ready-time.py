#!/usr/bin/env python3
"""Times porchlightd from process start to READY=1 on a notify socket of its own.

usage: Benchmarks/ready-time.py [BINARY] [CONFIG] [RUNS]
Prints one JSON line: {"metric": "start_to_ready_ms", "p50": ..., "max": ..., "runs": N}.
"""
import json, os, signal, socket, statistics, subprocess, sys, tempfile, time

binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/porchlightd"
config = sys.argv[2] if len(sys.argv) > 2 else "config/demo.toml"
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
times = []
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    env.pop("WATCHDOG_USEC", None)
    for _ in range(runs):
        start = time.monotonic()
        proc = subprocess.Popen([binary, "--config", config], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while b"READY=1" not in sock.recv(65536).split(b"\n"):
            pass
        times.append((time.monotonic() - start) * 1000)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        try:
            sock.settimeout(0.05)
            while True:
                sock.recv(65536)
        except socket.timeout:
            sock.settimeout(10)
print(json.dumps({"metric": "start_to_ready_ms", "p50": round(statistics.median(times), 1),
                  "max": round(max(times), 1), "runs": runs}))
