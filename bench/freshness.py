#!/usr/bin/env python3
"""Time from the COMMIT of an UPDATE of one A record to the new answer over DNS.

  bench/freshness.py --pg CONNINFO --port DNS_PORT --name OWNER [--updates N]
                     [--cap SECONDS] [--gap SECONDS] [--poll SECONDS] [--label NAME]

Keeps one psql session open (autocommit) and for each update runs
  UPDATE records SET content = '<new address>' WHERE name = OWNER AND type = 'A' RETURNING ...
psql prints the RETURNING row only once the statement's implicit transaction
has committed (PQexec returns at ReadyForQuery), so the moment that row is read
is taken as the commit time (a few tens of microseconds late: it slightly
favours the server). Then OWNER/A is asked over UDP to 127.0.0.1:DNS_PORT
every POLL seconds (default 0.2 ms) until the answer holds the new address, or
CAP seconds pass (counted as a miss, at the cap). The same statement works on
zonemesh's and PowerDNS's records tables. Prints one summary line and a JSON line.
Python standard library only.
"""

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time


# The raw UDP DNS client is shared with the replication benchmarks.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replication_lib import a_records, dns_query  # noqa: E402


class Psql:
    def __init__(self, conninfo):
        self.p = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=0", conninfo],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr,
                                  text=True, bufsize=1)

    def run_until(self, sql, marker):
        self.p.stdin.write(sql + "\n")
        self.p.stdin.flush()
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("psql exited")
            if line.strip() == marker:
                return time.perf_counter()

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--updates", type=int, default=500)
    ap.add_argument("--cap", type=float, default=30.0)
    ap.add_argument("--gap", type=float, default=0.02, help="pause between updates")
    ap.add_argument("--poll", type=float, default=0.0002)
    ap.add_argument("--label", default="server")
    a = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", a.port))
    sock.settimeout(0.5)

    def answer():
        qid, pkt = dns_query(a.name)
        sock.send(pkt)
        deadline = time.perf_counter() + 0.5
        while time.perf_counter() < deadline:
            try:
                got = a_records(sock.recv(4096), qid)
            except socket.timeout:
                return None
            if got is not None:
                return got
        return None

    db = Psql(a.pg)
    lat = []
    misses = 0
    before = answer()
    if not before:
        sys.exit(f"freshness: {a.label} does not answer {a.name} A")
    base = random.randrange(1, 250)
    for i in range(a.updates):
        addr = f"10.{200 + (i // 65536) % 50}.{(i // 256) % 256}.{i % 256}"
        marker = f"fresh-{os.getpid()}-{i}"
        t0 = db.run_until(f"UPDATE records SET content = '{addr}' WHERE name = '{a.name}' AND type = 'A' "
                          f"RETURNING '{marker}';", marker)
        seen = None
        while True:
            got = answer()
            now = time.perf_counter()
            if got and addr in got:
                seen = now - t0
                break
            if now - t0 > a.cap:
                break
            time.sleep(a.poll)
        if seen is None:
            misses += 1
            lat.append(a.cap)
            print(f"freshness: {a.label} update {i}: old answer still served after {a.cap:.0f} s", file=sys.stderr)
        else:
            lat.append(seen)
        if a.updates <= 50:
            print(f"freshness: {a.label} update {i}: {lat[-1] * 1000:.1f} ms", file=sys.stderr)
        time.sleep(a.gap)
    db.close()
    ms = [x * 1000 for x in lat]
    res = {"server": a.label, "updates": a.updates, "misses_at_cap": misses, "cap_s": a.cap,
           "p50_ms": round(pct(ms, 50), 3), "p90_ms": round(pct(ms, 90), 3), "p99_ms": round(pct(ms, 99), 3),
           "max_ms": round(max(ms), 3), "min_ms": round(min(ms), 3), "mean_ms": round(sum(ms) / len(ms), 3)}
    print(f"{a.label}: {a.updates} updates, p50 {res['p50_ms']} ms, p90 {res['p90_ms']} ms, "
          f"p99 {res['p99_ms']} ms, max {res['max_ms']} ms, min {res['min_ms']} ms, "
          f"{misses} still old at the {a.cap:.0f} s cap")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
