#!/usr/bin/env python3
"""Hostile clients for benches/slow_clients.sh, against a server on 127.0.0.1.

  slow_clients.py PORT pipeline N SECONDS   N clients pipeline 16 ListRecords and never read
  slow_clients.py PORT slowbody N SECONDS   N clients send a POST body one byte every 10 s

Meanwhile a normal client asks for Identify, GetRecord and a ListRecords page every second;
the script prints one JSON line: the normal client's latencies (median and worst, ms),
its failures, and how many hostile connections the server had closed by the end.
"""
import json
import socket
import statistics
import sys
import time
import urllib.request

port, mode, n, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
LIST = b"GET /oai?verb=ListRecords&metadataPrefix=oai_dc HTTP/1.1\r\nHost: x\r\n\r\n"
SLOW = (b"POST /oai HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 1000\r\n\r\nverb=")

conns = []
for _ in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(LIST * 16 if mode == "pipeline" else SLOW)
        s.setblocking(False)
        conns.append(s)
    except OSError:
        s.close()

normal = [
    "verb=Identify",
    "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:bench.example.org:00000001",
    "verb=ListRecords&metadataPrefix=oai_dc",
]
latencies, failures = {q.split("&")[0][5:]: [] for q in normal}, 0
started = time.time()
last_trickle = 0.0
while time.time() - started < seconds:
    if mode == "slowbody" and time.time() - last_trickle >= 10:
        last_trickle = time.time()
        for s in conns:
            try:
                s.send(b"I")
            except OSError:
                pass
    for q in normal:
        t0 = time.time()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/oai?{q}", timeout=30) as r:
                r.read()
            latencies[q.split("&")[0][5:]].append((time.time() - t0) * 1000)
        except Exception:  # 503 under load, a refused connection: counted, not fatal
            failures += 1
    time.sleep(1)

def closed_by_server(s):
    """True when the server closed s: reading what it holds ends in EOF or a reset."""
    for _ in range(10000):
        try:
            if not s.recv(1 << 16):
                return True
        except BlockingIOError:
            return False
        except OSError:
            return True
    return False


closed = sum(closed_by_server(s) for s in conns)
print(json.dumps({
    "mode": mode, "clients": len(conns), "closed_by_server": closed,
    "normal_failures": failures,
    **{f"{k}_median_ms": round(statistics.median(v), 1) if v else None for k, v in latencies.items()},
    **{f"{k}_max_ms": round(max(v), 1) if v else None for k, v in latencies.items()},
}))
