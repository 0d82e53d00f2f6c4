#!/usr/bin/env python3
"""zonemesh-replicator benchmarks on a local 3-site cluster (scripts/cluster).

  bench/replication_zonemesh.py [--dir DIR] [--fast] [--latency 300] [--catchup 100000]
                                [--catchup-per-tx 100] [--sustained 200000:100,20000:1]
                                [--keep] [--cluster-json FILE]

Site A is site1; B and C are site2 and site3.
1. latency: N single-row autocommit UPDATEs of lat.bench.test/A at A (psql
   RETURNING: the clock starts when the row is printed, after COMMIT); B's
   and C's DNS servers are polled over UDP every 0.2 ms until they answer the
   new address. The rows in B's and C's databases are polled in the same loop
   (psql), which splits the time into replication and DNS server pick-up.
2. catch-up: A's replicator is stopped, M changes are made at A (DO block,
   --catchup-per-tx rows per COMMIT), then it is started; the clock runs from
   the start command until B and C both answer the last change over DNS.
3. sustained: for each COUNT:PER_TX, one writer at A as fast as it goes (a DO
   block, COMMIT every PER_TX rows); every site's progress is sampled every
   100 ms (the highest change number in its records); after the writer ends,
   B and C are polled over DNS for the last change.
Prints progress to stderr and one JSON line per result to stdout.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replication_lib as L  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER = os.path.join(REPO, "scripts", "cluster")


def cluster(*args):
    return subprocess.run([CLUSTER] + list(args), check=True, stdout=subprocess.PIPE, text=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/zonemesh-bench-repl/zm")
    ap.add_argument("--fast", action="store_true", help="scripts/cluster --fast (fsync off)")
    ap.add_argument("--cluster-json", help="use a running cluster (the JSON of scripts/cluster up)")
    ap.add_argument("--latency", type=int, default=300)
    ap.add_argument("--gap", type=float, default=0.02, help="pause between latency updates (s)")
    ap.add_argument("--no-sql-probe", action="store_true")
    ap.add_argument("--catchup", type=int, default=100000)
    ap.add_argument("--catchup-per-tx", type=int, default=100)
    ap.add_argument("--sustained", default="200000:100,20000:1")
    ap.add_argument("--cap", type=float, default=600, help="give up waiting after this many seconds")
    ap.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = ap.parse_args()

    if args.cluster_json:
        with open(args.cluster_json) as f:
            info = json.load(f)
    else:
        if os.path.exists(os.path.join(args.dir, "cluster.json")):
            subprocess.run([CLUSTER, "down", "--dir", args.dir, "--remove"], check=False)
        os.makedirs(os.path.dirname(args.dir), exist_ok=True)
        up = ["up", "--sites", "3", "--dir", args.dir] + (["--fast"] if args.fast else [])
        L.log("starting the cluster: scripts/cluster " + " ".join(up))
        info = json.loads(cluster(*up))
    sites = info["sites"]
    a, b, c = sites[0], sites[1], sites[2]
    cdir = info.get("dir", args.dir)
    L.log(f"load average {L.loadavg()}")
    try:
        run(args, a, b, c, cdir)
    finally:
        if not args.keep and not args.cluster_json:
            subprocess.run([CLUSTER, "down", "--dir", cdir, "--remove"], check=False)


def next_number(a):
    """The next unused change number (the data holds the highest one used)."""
    out = L.sql(a["pg"], L.PROGRESS_SQL.format(table="records"))
    lat = L.sql(a["pg"], f"SELECT content FROM records WHERE name = '{L.LAT_NAME}' AND type = 'A'")
    n = int(out or 0)
    if lat.startswith("10."):
        p = [int(x) for x in lat.split(".")]
        n = max(n, p[1] * 65536 + p[2] * 256 + p[3])
    return n + 1


def run(args, a, b, c, cdir):
    dns = [L.DnsProbe("B dns", b["dns_port"]), L.DnsProbe("C dns", c["dns_port"])]
    exists = L.sql(a["pg"], "SELECT count(*) FROM zones WHERE name = 'bench.test'")
    if exists == "0":
        L.log(f"zone bench.test: {L.HOSTS} hosts and {L.LAT_NAME}")
        L.sql(a["pg"], f"""BEGIN;
SELECT create_zone('bench.test', ARRAY['ns1.bench.test']);
INSERT INTO records (zone, name, type, ttl, content) VALUES ('bench.test', '{L.LAT_NAME}', 'A', 60, '10.0.0.0');
INSERT INTO records (zone, name, type, ttl, content)
  SELECT 'bench.test', 'h' || i || '.bench.test', 'A', 60, '10.0.0.0' FROM generate_series(0, {L.HOSTS - 1}) i;
COMMIT;""")
        got = L.wait_all(dns, f"h{L.HOSTS - 1}.bench.test", "10.0.0.0", time.monotonic(), 60, poll=0.01)
        L.log(f"zone at B and C over DNS: {got}")
    n = next_number(a)

    # 1. latency
    if args.latency:
        probes = list(dns)
        if not args.no_sql_probe:
            probes += [L.SqlProbe("B sql", b["pg"]), L.SqlProbe("C sql", c["pg"])]
        writer = L.Psql(a["pg"])
        times = {p.label: [] for p in probes}
        misses = {p.label: 0 for p in probes}
        load0 = L.loadavg()
        for i in range(args.latency):
            t0, row = writer.first_line(f"UPDATE records SET content = '{L.addr(n)}' WHERE name = '{L.LAT_NAME}' "
                                        f"AND type = 'A' RETURNING content")
            if row != L.addr(n):
                raise RuntimeError(f"update returned {row!r}")
            got = L.wait_all(probes, L.LAT_NAME, L.addr(n), t0, 30)
            for label, s in got.items():
                if s is None:
                    misses[label] += 1
                else:
                    times[label].append(s * 1000)
            n += 1
            if (i + 1) % 50 == 0:
                L.log(f"latency: {i + 1}/{args.latency}; B dns p50 {L.pct(times['B dns'], 50):.1f} ms")
            time.sleep(args.gap)
        writer.close()
        for p in probes:
            if isinstance(p, L.SqlProbe):
                p.psql.close()
        for label, v in times.items():
            L.emit({"bench": "latency", "system": "zonemesh", "probe": label, "changes": args.latency,
                    "p50_ms": round(L.pct(v, 50), 2), "p90_ms": round(L.pct(v, 90), 2),
                    "p99_ms": round(L.pct(v, 99), 2), "max_ms": round(max(v), 2) if v else None,
                    "min_ms": round(min(v), 2) if v else None, "missed": misses[label],
                    "load": f"{load0} -> {L.loadavg()}"})

    # 2. catch-up
    if args.catchup:
        L.log("catch-up: stopping A's replicator")
        cluster("stop", "--dir", cdir, "--site", a["node"], "--process", "replicator")
        first, last = n, n + args.catchup - 1
        t = time.monotonic()
        L.sql(a["pg"], L.writer_sql(first, args.catchup, args.catchup_per_tx))
        write_s = time.monotonic() - t
        n = last + 1
        L.log(f"catch-up: {args.catchup} changes written at A in {write_s:.1f} s; starting A's replicator")
        time.sleep(1)
        sampler = L.ProgressSampler([("A", a["pg"]), ("B", b["pg"]), ("C", c["pg"])])
        load0 = L.loadavg()
        cpu0 = L.cpu_snapshot([a, b, c])
        t0 = time.monotonic()
        cluster("start", "--dir", cdir, "--site", a["node"], "--process", "replicator")
        started = time.monotonic() - t0
        sampler.start()
        got = L.wait_all(dns, L.host_of(last), L.addr(last), t0, args.cap, poll=0.001)
        cpu = L.cpu_delta(cpu0, L.cpu_snapshot([a, b, c]))
        sampler.stop()
        db_done = {}
        for label in ("B", "C"):
            for row in sampler.samples:
                if row[label] >= last:
                    db_done[label] = round(row[label + "@t"] - t0, 3)
                    break
        L.emit({"bench": "catchup", "system": "zonemesh", "changes": args.catchup,
                "per_tx": args.catchup_per_tx, "write_s": round(write_s, 2),
                "replicator_start_cmd_s": round(started, 3),
                "dns_done_s": {k: (round(v, 3) if v is not None else None) for k, v in got.items()},
                "db_done_s": db_done, "cpu_s": cpu, "load": f"{load0} -> {L.loadavg()}"})

    # 3. sustained
    for spec in filter(None, args.sustained.split(",")):
        count, per_tx = (int(x) for x in spec.split(":"))
        first, last = n, n + count - 1
        n = last + 1
        sampler = L.ProgressSampler([("A", a["pg"]), ("B", b["pg"]), ("C", c["pg"])])
        sampler.start()
        load0 = L.loadavg()
        L.log(f"sustained: {count} changes, {per_tx} per transaction")
        t0 = time.monotonic()
        L.sql(a["pg"], L.writer_sql(first, count, per_tx))
        t_w = time.monotonic() - t0
        L.log(f"sustained: writer done in {t_w:.1f} s; waiting for B and C over DNS")
        got = L.wait_all(dns, L.host_of(last), L.addr(last), t0, t_w + args.cap, poll=0.001)
        time.sleep(0.3)
        sampler.stop()
        lag = {p: sampler.max_lag("A", p, first) for p in ("B", "C")}
        L.emit({"bench": "sustained", "system": "zonemesh", "changes": count, "per_tx": per_tx,
                "writer_s": round(t_w, 2), "writer_changes_per_s": round(count / t_w),
                "dns_done_s": {k: (round(v, 3) if v is not None else None) for k, v in got.items()},
                "after_writer_s": {k: (round(v - t_w, 3) if v is not None else None) for k, v in got.items()},
                "max_lag_changes": {p: v[0] for p, v in lag.items()},
                "max_lag_s": {p: round(v[1], 2) for p, v in lag.items()},
                "load": f"{load0} -> {L.loadavg()}"})


if __name__ == "__main__":
    main()
