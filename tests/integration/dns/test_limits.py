#!/usr/bin/python3
"""Resource limits against real processes (issue 16, sections 4 and 5).

A 2-site cluster (scripts/cluster). Against site1's zonemesh-replicator:
  - frames announcing 250 MiB before hello: each link is closed and the
    process's resident memory (/proc/PID/status VmRSS) stays bounded;
  - a truncated hello held open: closed within the hello deadline;
  - 200 plain TCP connections that never start TLS: the ones over the cap
    are closed at once, the rest within the handshake deadline;
  - the real link to site2 stays up meanwhile (pings keep it busy).
Against site1's zonemesh-server HTTP API:
  - wrong X-API-Key from 127.0.0.2 again and again: 401, then 429 with
    Retry-After; the right key from 127.0.0.3 still works; one log line, no key.
Against site2's zonemesh-server (restarted with workers = 1 and
tcp_max_connections = 40):
  - 40 idle TCP connections from 127.0.0.2-5: a new TCP query from
    127.0.0.1 is answered (the oldest idle connection is closed for it);
  - per-address limit: more connections from one address than
    tcp_max_connections_per_address keep at most that many open.

Every client address is in 127.0.0.0/8; floods are bounded (at most 200
sockets). Run with /usr/bin/python3 (dnspython); ZONEMESH_BUILD_DIR picks
the binaries.
"""

import http.client
import os
import re
import selectors
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import BUILD_DIR, CLUSTER, cluster_down, cluster_up, psql, wait_for  # noqa: E402

import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rdataclass  # noqa: E402

ENV = {}
MiB = 1024 * 1024


def note(msg):
    print(f"limits: {msg}", file=sys.stderr, flush=True)


def site(i):
    return ENV["sites"][i - 1]


def site_dir(i):
    return os.path.join(ENV["cluster_dir"], f"site{i}")


def pid_of(i, process):
    with open(os.path.join(site_dir(i), f"{process}.pid")) as f:
        return int(f.read().strip())


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def metrics(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return text


def metric(text, name, labels=""):
    """The value of `name{labels}` (labels as written, e.g. 'reason="x"'), or 0."""
    want = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == want:
            return float(value)
    return 0.0


def log_text(i, process):
    with open(os.path.join(site_dir(i), f"{process}.log"), errors="replace") as f:
        return f.read()


def frame(ftype, payload):
    return struct.pack(">IB", len(payload) + 1, ftype) + payload


def tls_client():
    """A TLS connection to site1's replicator with site2's certificate (a
    valid certificate of the cluster's CA: what an attacker holding one has)."""
    tls = os.path.join(ENV["cluster_dir"], "tls")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(tls, "ca.pem"))
    ctx.load_cert_chain(os.path.join(tls, "site2.pem"), os.path.join(tls, "site2.key"))
    raw = socket.create_connection(("127.0.0.1", site(1)["replicator_port"]), timeout=5,
                                   source_address=("127.0.0.2", 0))
    return ctx.wrap_socket(raw)


def closed_within(sock, seconds):
    """True when the peer closes `sock` (EOF or reset) within `seconds`; reads
    and drops what it sends meanwhile (its hello)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True
        if not data:
            return True
    return False


def open_tcp(port, source, count):
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def closed_of(socks, wait):
    """The ones of `socks` that the peer has closed, waiting up to `wait`
    seconds for all of them."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    closed = set()
    deadline = time.monotonic() + wait
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, min(0.2, deadline - time.monotonic()))):
            try:
                data = key.fileobj.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed.add(key.fileobj)
                sel.unregister(key.fileobj)
    sel.close()
    return closed


def count_closed(socks, wait):
    return len(closed_of(socks, wait))


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def setUpModule():
    ENV["sites"] = cluster_up(ENV, "zonemesh-limits-", 2)
    note(f"cluster up in {ENV['cluster_dir']}")


def tearDownModule():
    cluster_down(ENV)


class ReplicatorBeforeHello(unittest.TestCase):
    """Section 4: memory and connections before hello."""

    def test_1_oversized_frame_claims_keep_memory_bounded(self):
        pid = pid_of(1, "replicator")
        before = rss_kib(pid)
        note(f"replicator RSS before: {before / 1024:.1f} MiB")
        for n in range(6):
            s = tls_client()
            # A hello frame announcing 250 MiB, then 64 KiB of it.
            s.sendall(struct.pack(">IB", 250 * MiB, 1))
            try:
                s.sendall(b"{" + b" " * (64 * 1024))
            except OSError:
                pass
            closed = closed_within(s, 3.0)
            time.sleep(0.3)
            now = rss_kib(pid)
            note(f"claim {n + 1}: closed={closed} RSS {now / 1024:.1f} MiB")
            s.close()
            self.assertLess(now - before, 64 * 1024, "a claimed frame size was allocated")
            self.assertTrue(closed, "a frame over the limit before hello did not close the link")
        m = metrics(site(1)["replicator_http_port"])
        self.assertGreaterEqual(
            metric(m, "zonemesh_replicator_connections_closed_total", 'reason="frame_too_large"'), 6)
        self.assertIn("before hello", log_text(1, "replicator"))

    def test_2_truncated_hello_is_closed_at_the_deadline(self):
        s = tls_client()
        started = time.monotonic()
        s.sendall(frame(1, b'{"protocol": 1, "node": "site2"}')[:20])  # and never the rest
        closed = closed_within(s, 12.0)
        took = time.monotonic() - started
        s.close()
        note(f"truncated hello: closed={closed} after {took:.1f} s")
        self.assertTrue(closed, "a truncated hello held open was not closed within 12 s")
        self.assertLess(took, 12.0)
        m = metrics(site(1)["replicator_http_port"])
        self.assertGreaterEqual(
            metric(m, "zonemesh_replicator_connections_closed_total", 'reason="hello_timeout"'), 1)

    def test_3_plain_tcp_connections_are_capped_and_closed(self):
        port = site(1)["replicator_port"]
        started = time.monotonic()
        socks = open_tcp(port, "127.0.0.2", 200)
        try:
            fast_closed = closed_of(socks, 1.5)
            fast = len(fast_closed)
            note(f"200 plain TCP connections: {fast} closed within 1.5 s")
            m = metrics(site(1)["replicator_http_port"])
            unauth = metric(m, "zonemesh_replicator_unauthenticated_connections")
            note(f"unauthenticated connections now: {unauth:.0f}")
            rest = count_closed([s for s in socks if s not in fast_closed], 12.0)
            total = fast + rest
            took = time.monotonic() - started
            note(f"... {total} closed after {took:.1f} s")
        finally:
            close_all(socks)
        self.assertGreaterEqual(fast, 150, "connections over the cap were not refused at once")
        self.assertEqual(total, 200, "plain TCP connections were still open after the deadline")
        m = metrics(site(1)["replicator_http_port"])
        self.assertGreaterEqual(
            metric(m, "zonemesh_replicator_connections_closed_total", 'reason="unauthenticated_limit"'), 150)

    def test_4_the_real_link_stays_up(self):
        m = metrics(site(1)["replicator_http_port"])
        self.assertEqual(metric(m, "zonemesh_replicator_peer_connected", 'peer="site2"'), 1.0)
        psql(site(2), "SELECT create_zone('limits.test', ARRAY['ns1.limits.test'])")
        wait_for("the zone at site1",
                 lambda: psql(site(1), "SELECT count(*) FROM zones WHERE name = 'limits.test'") == "1", 30)
        self.assertNotRegex(log_text(1, "replicator"), r"link to site2 .*closed: nothing heard")


class ApiKeyGuessing(unittest.TestCase):
    """Section 5: repeated wrong API keys from one address."""

    def request(self, source, key):
        conn = http.client.HTTPConnection("127.0.0.1", site(1)["http_port"], timeout=5,
                                          source_address=(source, 0))
        conn.request("GET", "/api/v1/servers/localhost/zones", headers={"X-API-Key": key})
        res = conn.getresponse()
        res.read()
        conn.close()
        return res.status, res.getheader("Retry-After")

    def test_guessing_gets_429_and_the_right_key_works_elsewhere(self):
        with open(os.path.join(ENV["cluster_dir"], "api-key")) as f:
            key = f.read().strip()
        statuses = []
        retry_after = None
        started = time.monotonic()
        for n in range(100):
            status, ra = self.request("127.0.0.2", f"guess-{n:04d}")
            statuses.append(status)
            if status == 429 and retry_after is None:
                retry_after = ra
        took = time.monotonic() - started
        first_429 = statuses.index(429) if 429 in statuses else None
        note(f"100 wrong keys in {took:.2f} s: {statuses.count(401)} x 401, {statuses.count(429)} x 429, "
             f"first 429 at attempt {None if first_429 is None else first_429 + 1}, Retry-After {retry_after}")
        self.assertEqual(statuses[0], 401)
        self.assertIsNotNone(first_429, "100 wrong keys from one address and never a 429")
        self.assertTrue(all(s == 429 for s in statuses[first_429:]))
        self.assertTrue(retry_after and int(retry_after) > 0)
        # The address is refused for a while, the right key included; others are not.
        self.assertEqual(self.request("127.0.0.2", key)[0], 429)
        self.assertEqual(self.request("127.0.0.3", key)[0], 200)
        m = metrics(site(1)["http_port"])
        note(f"failures metric {metric(m, 'zonemesh_api_auth_failures_total')}, "
             f"refused {metric(m, 'zonemesh_api_auth_refused_total')}")
        self.assertGreaterEqual(metric(m, "zonemesh_api_auth_failures_total"), first_429)
        self.assertGreaterEqual(metric(m, "zonemesh_api_auth_refused_total"), 100 - first_429)
        log = log_text(1, "server")
        lines = [line for line in log.splitlines() if "127.0.0.2" in line and "API key" in line]
        note(f"log: {lines}")
        self.assertEqual(len(lines), 1, "expected one log line for the address per interval")
        self.assertNotIn("guess-", log)


def restart_server(i, extra):
    """Restarts site i's server with [server] workers = 1 and `extra` lines."""
    cluster_env = dict(os.environ, ZONEMESH_BUILD_DIR=BUILD_DIR)
    subprocess.run([CLUSTER, "stop", "--dir", ENV["cluster_dir"], "--site", f"site{i}", "--process", "server"],
                   check=True, env=cluster_env, timeout=60)
    path = os.path.join(site_dir(i), "server.conf")
    with open(path) as f:
        text = f.read()
    text = re.sub(r"(?m)^tcp_max_connections.*\n", "", text)  # from an earlier restart
    text = re.sub(r"(?m)^workers = .*$", "workers = 1\n" + "".join(line + "\n" for line in extra), text)
    with open(path, "w") as f:
        f.write(text)
    subprocess.run([CLUSTER, "start", "--dir", ENV["cluster_dir"], "--site", f"site{i}", "--process", "server"],
                   check=True, env=cluster_env, timeout=120)


def tcp_hostname(port, source):
    q = dns.message.make_query("hostname.bind", "TXT", rdclass=dns.rdataclass.CH)
    r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=5, source=source)
    return r.answer[0][0].strings[0].decode()


class DnsTcpExhaustion(unittest.TestCase):
    """Section 5: DNS over TCP with every connection slot taken."""

    def test_1_new_client_served_when_the_limit_is_full_of_idle_connections(self):
        restart_server(2, ["tcp_max_connections = 40"])
        port = site(2)["dns_port"]
        http_port = site(2)["http_port"]
        socks = []
        try:
            for a in range(2, 6):
                socks += open_tcp(port, f"127.0.0.{a}", 10)
                time.sleep(0.2)  # so that "oldest" means something
            wait_for("40 open connections",
                     lambda: metric(metrics(http_port), "zonemesh_dns_tcp_connections") >= 40, 10)
            started = time.monotonic()
            try:
                answer = tcp_hostname(port, "127.0.0.1")
            except Exception as e:  # EOF today
                answer = f"failed: {e!r}"
            took = time.monotonic() - started
            closed = count_closed(socks[:], 0.5)
            note(f"40 idle connections open; a new TCP query got {answer!r} in {took * 1000:.0f} ms; "
                 f"{closed} idle connection(s) closed")
        finally:
            close_all(socks)
        self.assertEqual(answer, "site2")
        self.assertGreaterEqual(closed, 1)
        m = metrics(http_port)
        self.assertGreaterEqual(metric(m, "zonemesh_dns_tcp_connections_total", 'result="evicted"'), 1)

    def test_2_per_address_limit(self):
        restart_server(2, ["tcp_max_connections = 40", "tcp_max_connections_per_address = 5"])
        port = site(2)["dns_port"]
        socks = open_tcp(port, "127.0.0.6", 8)
        try:
            closed = count_closed(socks[:], 1.0)
            answer = tcp_hostname(port, "127.0.0.7")
            note(f"8 connections from one address with a limit of 5: {closed} closed; "
                 f"another address got {answer!r}")
        finally:
            close_all(socks)
        self.assertGreaterEqual(closed, 3)
        self.assertEqual(answer, "site2")
        m = metrics(site(2)["http_port"])
        self.assertGreaterEqual(metric(m, "zonemesh_dns_tcp_connections_total", 'result="evicted_per_address"'), 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
