"""Shared pieces of the replication benchmarks (bench/replication_*.py).

Python standard library and the psql client only. Every change a benchmark
makes is an UPDATE of an A record whose new address encodes a global change
number n (10.a.b.c with n = a*65536 + b*256 + c), so any site's progress can
be read from its data alone, the same way for zonemesh and for Bucardo.
"""

import json
import os
import random
import select
import socket
import struct
import subprocess
import sys
import threading
import time

HOSTS = 1000  # h0 .. h999 in zone bench.test: the rows the bulk writers cycle over
LAT_NAME = "lat.bench.test"  # the row the latency test updates


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def addr(n):
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def sql(conninfo, query, timeout=None):
    """Runs one statement with psql -c; returns stdout (unaligned, tuples only)."""
    res = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", conninfo, "-c", query],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"psql failed: {query[:200]}\n{res.stderr}")
    return res.stdout.strip()


class Psql:
    """One psql session kept open; query() returns the output lines of one statement."""

    def __init__(self, conninfo):
        self.p = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=0", conninfo],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr,
                                  text=True, bufsize=1)
        self.n = 0

    def query(self, statement):
        self.n += 1
        marker = f"__end_{self.n}__"
        self.p.stdin.write(statement.rstrip().rstrip(";") + f";\nSELECT '{marker}';\n")
        self.p.stdin.flush()
        out = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("psql ended")
            line = line.rstrip("\n")
            if line == marker:
                return out
            out.append(line)

    def first_line(self, statement):
        """Sends a statement and returns at its first output line (for RETURNING after COMMIT)."""
        self.n += 1
        marker = f"__end_{self.n}__"
        self.p.stdin.write(statement.rstrip().rstrip(";") + f";\nSELECT '{marker}';\n")
        self.p.stdin.flush()
        first = self.p.stdout.readline()
        t = time.monotonic()
        while True:
            line = self.p.stdout.readline()
            if not line or line.rstrip("\n") == marker:
                break
        return t, first.rstrip("\n")

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=10)
        except Exception:
            self.p.kill()


# ---- DNS over UDP, raw sockets -------------------------------------------

def dns_query(name, qtype=1):
    qid = random.randrange(65536)
    pkt = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        pkt += bytes([len(label)]) + label.encode()
    return qid, pkt + b"\x00" + struct.pack(">HH", qtype, 1)


def _skip_name(msg, off):
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        if n == 0:
            return off + 1
        off += 1 + n


def a_records(msg, qid):
    if len(msg) < 12:
        return None
    rid, flags, qd, an = struct.unpack(">HHHH", msg[:8])
    if rid != qid or not flags & 0x8000:
        return None
    off = 12
    for _ in range(qd):
        off = _skip_name(msg, off) + 4
    out = []
    for _ in range(an):
        off = _skip_name(msg, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(msg[off:off + 4]))
        off += rdlen
    return out


class DnsProbe:
    """Asks NAME/A at 127.0.0.1:PORT; done when the answer holds the wanted address."""

    def __init__(self, label, port):
        self.label = label
        self.port = port
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.connect(("127.0.0.1", port))
        self.s.setblocking(False)

    def answer(self, name, timeout=0.05):
        qid, pkt = dns_query(name)
        self.s.send(pkt)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                return None
            try:
                msg = self.s.recv(4096)
            except BlockingIOError:
                continue
            got = a_records(msg, qid)
            if got is not None:
                return got

    def has(self, name, address):
        got = self.answer(name)
        return got is not None and address in got


class SqlProbe:
    """Reads NAME's A content at a site's database through a kept psql session."""

    def __init__(self, label, conninfo, table="records"):
        self.label = label
        self.psql = Psql(conninfo)
        self.table = table

    def answer(self, name):
        return self.psql.query(f"SELECT content FROM {self.table} WHERE name = '{name}' AND type = 'A'")

    def has(self, name, address):
        return address in self.answer(name)


def wait_all(probes, name, address, t0, cap, poll=0.0002):
    """Polls every probe until each answers address; returns {label: seconds after t0 or None}."""
    done = {}
    end = t0 + cap
    while len(done) < len(probes):
        now = time.monotonic()
        if now > end:
            break
        for p in probes:
            if p.label not in done and p.has(name, address):
                done[p.label] = time.monotonic() - t0
        if poll:
            time.sleep(poll)
    return {p.label: done.get(p.label) for p in probes}


# ---- progress: the highest change number a site's data shows -------------

PROGRESS_SQL = ("SELECT coalesce(max(split_part(content, '.', 2)::int * 65536 + split_part(content, '.', 3)::int * 256"
                " + split_part(content, '.', 4)::int), 0) FROM {table} WHERE zone = 'bench.test' AND type = 'A'"
                " AND name LIKE 'h%' AND content LIKE '10.%'")


class ProgressSampler(threading.Thread):
    """Every interval s, reads each site's highest change number; keeps (t, {label: n})."""

    def __init__(self, sites, interval=0.1, table="records"):
        super().__init__(daemon=True)
        self.sessions = {label: Psql(ci) for label, ci in sites}
        self.interval = interval
        self.samples = []
        self.stop_flag = threading.Event()
        self.q = PROGRESS_SQL.format(table=table)

    def run(self):
        while not self.stop_flag.is_set():
            row = {}
            for label, ps in self.sessions.items():
                out = ps.query(self.q)
                row[label] = int(out[0]) if out and out[0] else 0
                row[label + "@t"] = time.monotonic()
            self.samples.append(row)
            self.stop_flag.wait(self.interval)

    def stop(self):
        self.stop_flag.set()
        self.join()
        for ps in self.sessions.values():
            ps.close()

    def max_lag(self, origin, peer, base):
        """Largest lag of peer behind origin, in changes and in seconds.

        seconds: at each sample, how long the origin had already held a change
        the peer still lacked (first origin sample showing more than the peer has).
        """
        first_seen = []  # (t, n) of origin, increasing
        worst_n, worst_s = 0, 0.0
        for row in self.samples:
            n_o = row[origin]
            if not first_seen or n_o > first_seen[-1][1]:
                first_seen.append((row[origin + "@t"], n_o))
            n_p = row[peer]
            worst_n = max(worst_n, n_o - n_p)
            if n_p < n_o:
                t_p = row[peer + "@t"]
                for t, n in first_seen:
                    if n > n_p:
                        worst_s = max(worst_s, t_p - t)
                        break
        return worst_n, worst_s


def writer_sql(first, count, per_tx, table="records"):
    """A DO block: count changes numbered first.. (h(i % HOSTS) gets addr(i)), per_tx rows per COMMIT."""
    assert per_tx <= HOSTS and count % per_tx == 0
    return f"""DO $bench$
DECLARE b bigint;
BEGIN
  FOR b IN 0..{count // per_tx - 1} LOOP
    UPDATE {table} r SET content = '10.' || ((g.i >> 16) & 255) || '.' || ((g.i >> 8) & 255) || '.' || (g.i & 255)
      FROM generate_series({first} + b * {per_tx}, {first} + b * {per_tx} + {per_tx - 1}) g(i)
     WHERE r.zone = 'bench.test' AND r.type = 'A' AND r.name = 'h' || (g.i % {HOSTS}) || '.bench.test';
    COMMIT;
  END LOOP;
END $bench$"""


def host_of(n):
    return f"h{n % HOSTS}.bench.test"


def emit(result):
    print(json.dumps(result), flush=True)


def _proc_cpu(pid, children=False):
    """user+sys CPU seconds of a process (and of its reaped children)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def cpu_snapshot(sites):
    """CPU seconds so far per site and process: postgres (the postmaster, its
    live backends, and those it has reaped), server, replicator. Diff two
    snapshots with cpu_delta."""
    snap = {}
    for s in sites:
        d = s["dir"]
        out = {}
        try:
            with open(os.path.join(d, "pgdata", "postmaster.pid")) as f:
                pm = int(f.readline())
            out["postgres"] = _proc_cpu(pm, children=True) + sum(_proc_cpu(c) for c in _children(pm))
        except OSError:
            out["postgres"] = 0.0
        for name in ("server", "replicator"):
            try:
                with open(os.path.join(d, f"{name}.pid")) as f:
                    pid = int(f.read().strip())
                out[name] = (pid, _proc_cpu(pid))
            except (OSError, ValueError):
                out[name] = (0, 0.0)
        snap[s["node"]] = out
    return snap


def cpu_delta(before, after):
    """{site: {process: seconds}} between two cpu_snapshot()s (a process that
    was restarted in between counts from zero)."""
    res = {}
    for node, a in after.items():
        b = before.get(node, {})
        r = {"postgres": round(a["postgres"] - b.get("postgres", 0.0), 2)}
        for name in ("server", "replicator"):
            pid, t = a[name]
            bpid, bt = b.get(name, (0, 0.0))
            r[name] = round(t - (bt if bpid == pid else 0.0), 2)
        res[node] = r
    return res
