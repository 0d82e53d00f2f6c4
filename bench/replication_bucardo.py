#!/usr/bin/env python3
"""Bucardo 5 three-node multi-master, measured like bench/replication_zonemesh.py.

  bench/replication_bucardo.py [--dir DIR] [--fast] [--latency 300] [--catchup 100000]
                               [--catchup-per-tx 100] [--sustained 200000:100,20000:1]
                               [--sleeps stock|reduced] [--keep]

Needs (Debian 12): apt-get install -y bucardo postgresql-plperl-15.
Starts three PostgreSQL clusters under DIR (initdb as the postgres user, own
ports and unix sockets: A, B, C), each with a database `bench` holding a
`records` table (uuid primary key; zone, name, type, ttl, content, as
zonemesh's) with the same 1001 rows, and Bucardo's own database `bucardo` in
A's cluster; one sync of `records` with all three databases as sources
(conflict strategy bucardo_latest, the default), Bucardo's settings stock
(or, with --sleeps reduced, kid_sleep / kid_nodeltarows_sleep / ctl_sleep /
mcp_loop_sleep at 0.01 s). Bucardo answers no DNS, so B and C are polled in
SQL. The catch-up test stops and starts the Bucardo daemon (the one process
that carries every change; the analogue of A's replicator). Bucardo's HOME
(it appends a password to ~/.pgpass), its working directory (restart
reason files) and its pid and log files are in DIR.
"""

import argparse
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replication_lib as L  # noqa: E402


def pg_bindir():
    for v in ("17", "16", "15"):
        d = f"/usr/lib/postgresql/{v}/bin"
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    sys.exit("PostgreSQL server binaries not found")


def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


def run(cmd, env=None, check=True, cwd=None):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}")
    return res.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = os.path.abspath(args.dir)
        self.bindir = pg_bindir()
        self.nodes = []
        self.env = dict(os.environ, HOME=self.dir)
        self.rc = os.path.join(self.dir, "bucardorc")

    # -- PostgreSQL clusters
    def start_clusters(self):
        if os.path.exists(self.dir):
            self.stop_all()
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)
        pw = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        for name in ("A", "B", "C"):
            d = os.path.join(self.dir, name)
            os.makedirs(d)
            if pw:
                os.chown(d, pw.pw_uid, pw.pw_gid)
            pgdata = os.path.join(d, "pgdata")
            port = free_port()
            run(as_postgres([os.path.join(self.bindir, "initdb"), "-D", pgdata, "-U", "postgres", "-A", "trust",
                             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]))
            conf = [f"port = {port}", f"unix_socket_directories = '{d}'", "listen_addresses = '127.0.0.1'",
                    "max_connections = 100", "shared_buffers = 128MB", "log_min_messages = warning"]
            if self.args.fast:
                conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
            with open(os.path.join(pgdata, "postgresql.conf"), "a") as f:
                f.write("\n" + "\n".join(conf) + "\n")
            run(as_postgres([os.path.join(self.bindir, "pg_ctl"), "start", "-w", "-D", pgdata,
                             "-l", os.path.join(d, "postgres.log")]))
            node = {"name": name, "dir": d, "pgdata": pgdata, "port": port,
                    "pg": f"host={d} port={port} dbname=bench user=postgres"}
            self.nodes.append(node)
            L.sql(f"host={d} port={port} dbname=postgres user=postgres", "CREATE DATABASE bench")
            L.sql(node["pg"], f"""
CREATE TABLE records (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), zone text NOT NULL, name text NOT NULL,
  type text NOT NULL, ttl integer NOT NULL DEFAULT 3600, content text NOT NULL, disabled boolean NOT NULL DEFAULT false,
  modified timestamptz NOT NULL DEFAULT now());
CREATE INDEX records_zone_name_type ON records (zone, name, type);
INSERT INTO records (id, zone, name, type, ttl, content) VALUES (md5('{L.LAT_NAME}')::uuid, 'bench.test', '{L.LAT_NAME}', 'A', 60, '10.255.0.0');
INSERT INTO records (id, zone, name, type, ttl, content)
  SELECT md5('h' || i)::uuid, 'bench.test', 'h' || i || '.bench.test', 'A', 60, '10.0.0.0'
    FROM generate_series(0, {L.HOSTS - 1}) i;""")
            L.log(f"cluster {name}: port {port}, socket {d}")

    def stop_all(self):
        for name in ("A", "B", "C"):
            pgdata = os.path.join(self.dir, name, "pgdata")
            if os.path.exists(os.path.join(pgdata, "postmaster.pid")):
                run(as_postgres([os.path.join(self.bindir, "pg_ctl"), "stop", "-w", "-m", "fast", "-D", pgdata]),
                    check=False)

    # -- Bucardo
    def bucardo(self, *args, check=True):
        # cwd: bucardo writes its bucardo.restart.reason.* files into the current directory
        return run(["bucardo", "--bucardorc", self.rc] + list(args), env=self.env, check=check, cwd=self.dir)

    def setup_bucardo(self):
        a = self.nodes[0]
        piddir = os.path.join(self.dir, "bucardo-run")
        os.makedirs(piddir)
        with open(self.rc, "w") as f:
            f.write(f"dbhost = {a['dir']}\ndbport = {a['port']}\ndbname = bucardo\ndbuser = bucardo\n"
                    f"piddir = {piddir}\n")
        out = run(["bucardo", "install", "--batch", "--no-bucardorc", "--dbhost", a["dir"], "--dbport",
                   str(a["port"]), "--dbuser", "postgres", "--dbname", "postgres", "--pid-dir", piddir],
                  env=self.env, cwd=self.dir)
        L.log("bucardo install: " + " ".join(out.split())[:200])
        for n in self.nodes:
            self.bucardo("add", "db", n["name"], "dbname=bench", f"dbhost={n['dir']}", f"dbport={n['port']}",
                         "dbuser=postgres")
        self.bucardo("add", "table", "public.records", "db=A", "relgroup=bench")
        self.bucardo("add", "dbgroup", "bench_dbs", "A:source", "B:source", "C:source")
        self.bucardo("add", "sync", "bench_sync", "relgroup=bench", "dbs=bench_dbs")
        if self.args.sleeps == "reduced":
            for k in ("kid_sleep", "kid_nodeltarows_sleep", "ctl_sleep", "mcp_loop_sleep"):
                self.bucardo("set", f"{k}=0.01")
        self.start_bucardo()

    def start_bucardo(self):
        logdir = os.path.join(self.dir, "bucardo-log")
        os.makedirs(logdir, exist_ok=True)
        self.bucardo("start", "--log-destination", logdir, "benchmark")
        # Running when a change at A reaches B and C.
        t0 = time.monotonic()
        probe = [L.SqlProbe("B", self.nodes[1]["pg"]), L.SqlProbe("C", self.nodes[2]["pg"])]
        L.sql(self.nodes[0]["pg"], f"UPDATE records SET content = '10.255.0.1' WHERE name = '{L.LAT_NAME}'")
        got = L.wait_all(probe, L.LAT_NAME, "10.255.0.1", t0, 120, poll=0.05)
        for p in probe:
            p.psql.close()
        L.log(f"bucardo running; first change at B, C after {got}")
        L.sql(self.nodes[0]["pg"], f"UPDATE records SET content = '10.255.0.0' WHERE name = '{L.LAT_NAME}'")
        time.sleep(2)

    def stop_bucardo(self):
        self.bucardo("stop", "benchmark", check=False)
        piddir = os.path.join(self.dir, "bucardo-run")
        for _ in range(300):
            if not any(f.endswith(".pid") for f in os.listdir(piddir)):
                return
            time.sleep(0.1)
        L.log("bucardo: pid files still there after 30 s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/zonemesh-bench-repl/bucardo")
    ap.add_argument("--fast", action="store_true", help="fsync off")
    ap.add_argument("--latency", type=int, default=300)
    ap.add_argument("--gap", type=float, default=0.02)
    ap.add_argument("--catchup", type=int, default=100000)
    ap.add_argument("--catchup-per-tx", type=int, default=100)
    ap.add_argument("--sustained", default="200000:100,20000:1")
    ap.add_argument("--sleeps", choices=("stock", "reduced"), default="stock")
    ap.add_argument("--cap", type=float, default=600)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    bench = Bench(args)
    system = "bucardo" + ("" if args.sleeps == "stock" else " (sleeps 0.01 s)")
    try:
        bench.start_clusters()
        bench.setup_bucardo()
        measure(bench, args, system)
    finally:
        if not args.keep:
            bench.stop_bucardo()
            bench.stop_all()


def measure(bench, args, system):
    a, b, c = bench.nodes
    n = 1

    if args.latency:
        probes = [L.SqlProbe("B sql", b["pg"]), L.SqlProbe("C sql", c["pg"])]
        writer = L.Psql(a["pg"])
        times = {p.label: [] for p in probes}
        misses = {p.label: 0 for p in probes}
        load0 = L.loadavg()
        for i in range(args.latency):
            t0, row = writer.first_line(f"UPDATE records SET content = '{L.addr(n)}' WHERE name = '{L.LAT_NAME}' "
                                        f"AND type = 'A' RETURNING content")
            got = L.wait_all(probes, L.LAT_NAME, L.addr(n), t0, 30, poll=0.0005)
            for label, s in got.items():
                if s is None:
                    misses[label] += 1
                else:
                    times[label].append(s * 1000)
            n += 1
            if (i + 1) % 50 == 0:
                L.log(f"latency: {i + 1}/{args.latency}; B p50 {L.pct(times['B sql'], 50):.1f} ms")
            time.sleep(args.gap)
        writer.close()
        for p in probes:
            p.psql.close()
        for label, v in times.items():
            L.emit({"bench": "latency", "system": system, "probe": label, "changes": args.latency,
                    "p50_ms": round(L.pct(v, 50), 2), "p90_ms": round(L.pct(v, 90), 2),
                    "p99_ms": round(L.pct(v, 99), 2), "max_ms": round(max(v), 2) if v else None,
                    "min_ms": round(min(v), 2) if v else None, "missed": misses[label],
                    "load": f"{load0} -> {L.loadavg()}"})

    if args.catchup:
        L.log("catch-up: stopping Bucardo")
        bench.stop_bucardo()
        first, last = n, n + args.catchup - 1
        t = time.monotonic()
        L.sql(a["pg"], L.writer_sql(first, args.catchup, args.catchup_per_tx))
        write_s = time.monotonic() - t
        n = last + 1
        L.log(f"catch-up: {args.catchup} changes written at A in {write_s:.1f} s; starting Bucardo")
        time.sleep(1)
        probes = [L.SqlProbe("B sql", b["pg"]), L.SqlProbe("C sql", c["pg"])]
        load0 = L.loadavg()
        t0 = time.monotonic()
        logdir = os.path.join(bench.dir, "bucardo-log")
        bench.bucardo("start", "--log-destination", logdir, "benchmark")
        started = time.monotonic() - t0
        got = L.wait_all(probes, L.host_of(last), L.addr(last), t0, args.cap, poll=0.01)
        for p in probes:
            p.psql.close()
        L.emit({"bench": "catchup", "system": system, "changes": args.catchup, "per_tx": args.catchup_per_tx,
                "write_s": round(write_s, 2), "start_cmd_s": round(started, 3),
                "sql_done_s": {k: (round(v, 3) if v is not None else None) for k, v in got.items()},
                "load": f"{load0} -> {L.loadavg()}"})

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
        L.log(f"sustained: writer done in {t_w:.1f} s; waiting for B and C")
        probes = [L.SqlProbe("B sql", b["pg"]), L.SqlProbe("C sql", c["pg"])]
        got = L.wait_all(probes, L.host_of(last), L.addr(last), t0, t_w + args.cap, poll=0.005)
        for p in probes:
            p.psql.close()
        time.sleep(0.3)
        sampler.stop()
        lag = {p: sampler.max_lag("A", p, first) for p in ("B", "C")}
        L.emit({"bench": "sustained", "system": system, "changes": count, "per_tx": per_tx,
                "writer_s": round(t_w, 2), "writer_changes_per_s": round(count / t_w),
                "sql_done_s": {k: (round(v, 3) if v is not None else None) for k, v in got.items()},
                "after_writer_s": {k: (round(v - t_w, 3) if v is not None else None) for k, v in got.items()},
                "max_lag_changes": {p: v[0] for p, v in lag.items()},
                "max_lag_s": {p: round(v[1], 2) for p, v in lag.items()},
                "load": f"{load0} -> {L.loadavg()}"})


if __name__ == "__main__":
    main()
