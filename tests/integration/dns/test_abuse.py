#!/usr/bin/python3
"""Abuse resistance over real sockets: response rate limiting (RRL) and DNS
cookies (RFC 7873, RFC 9018) on a 2-site zonemesh cluster.

- RRL: site1 is restarted with RRL on at a low rate; a bounded UDP flood
  from 127.0.0.1 (a fixed count, a few seconds at most) is mostly dropped,
  every slip-th dropped answer comes back truncated; a second source in
  another /24 (127.0.1.1) is answered in full at the same time; TCP still
  answers the flooded source; a client with a valid cookie is not limited;
  /metrics counts the drops and slips.
- Cookies: the sites share one secret (scripts/cluster writes it), so a
  server cookie obtained at site1 is valid at site2 (anycast); a wrong one
  gets BADCOOKIE with a fresh cookie.

Run with /usr/bin/python3 (Debian's python3-dnspython). Environment:
ZONEMESH_BUILD_DIR, ZONEMESH_KEEP_TMP=1 as for the other DNS tests.
"""

import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

import dns.edns
import dns.query
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from support import BUILD_DIR, CLUSTER, cluster_down, cluster_up, psql, require_tools, wait_for

ENV = {}
ZONE = "abuse.test"
RATE = 20  # responses per second per prefix and kind while the test runs
SLIP = 2
COOKIE = 10  # the EDNS option code


def site(i):
    return ENV["sites"][i]


def make_query(name, rdtype="A", cookie=None):
    q = dns.message.make_query(name, rdtype, use_edns=False)
    q.flags &= ~dns.flags.RD
    opts = [dns.edns.GenericOption(COOKIE, cookie)] if cookie is not None else []
    q.use_edns(edns=0, payload=1232, options=opts)
    return q


def cookie_of(msg):
    for opt in msg.options:
        if opt.otype == COOKIE:
            return opt.to_wire()
    return None


def udp(port, q, source="127.0.0.1", timeout=2.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        try:
            return dns.message.from_wire(s.recvfrom(65535)[0])
        except socket.timeout:
            return None


def flood(port, count, source="127.0.0.1", cookie=None, seconds=2.0):
    """Sends `count` queries from one socket spread over `seconds`, then
    collects replies; returns (full answers, truncated, replies)."""
    full = truncated = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setblocking(False)
        start = time.monotonic()

        def drain():
            nonlocal full, truncated
            while True:
                try:
                    data = s.recv(65535)
                except BlockingIOError:
                    return
                m = dns.message.from_wire(data)
                if m.flags & dns.flags.TC:
                    truncated += 1
                elif m.answer:
                    full += 1
        for i in range(count):
            q = make_query(f"www.{ZONE}", cookie=cookie)
            q.id = i & 0xFFFF
            s.sendto(q.to_wire(), ("127.0.0.1", port))
            # Spread the queries: at most `seconds` for the whole flood.
            delay = start + seconds * (i + 1) / count - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            drain()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            drain()
            time.sleep(0.02)
    return full, truncated, full + truncated


def metric(site_, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{site_['http_port']}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? ([0-9.e+]+)$", line)
        if m:
            total += float(m.group(2))
    return total


def restart_server_with(site_, section_text):
    """Stops the site's zonemesh-server, replaces its [rrl] section and starts it."""
    conf = os.path.join(site_["dir"], "server.conf")
    subprocess.run([CLUSTER, "stop", "--dir", ENV["cluster_dir"], "--site", site_["node"],
                    "--process", "server"], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, ZONEMESH_BUILD_DIR=BUILD_DIR))
    with open(conf) as f:
        text = f.read()
    text = re.sub(r"\[rrl\]\n(?:[^\[]*\n)?", section_text, text)
    with open(conf, "w") as f:
        f.write(text)
    subprocess.run([CLUSTER, "start", "--dir", ENV["cluster_dir"], "--site", site_["node"],
                    "--process", "server"], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, ZONEMESH_BUILD_DIR=BUILD_DIR))


def setUpModule():
    require_tools(("psql",), "postgresql")
    unittest.addModuleCleanup(cluster_down, ENV)
    ENV["sites"] = cluster_up(ENV, "zonemesh-abuse-", 2)
    psql(site(0), f"SELECT create_zone('{ZONE}', ARRAY['ns1.{ZONE}']); "
                  f"INSERT INTO records (zone, name, type, content) VALUES "
                  f"('{ZONE}', 'www.{ZONE}', 'A', '192.0.2.80')")
    for s in ENV["sites"]:
        wait_for(f"{s['node']} to serve {ZONE}",
                 lambda s=s: (r := udp(s["dns_port"], make_query(f"www.{ZONE}"))) is not None and r.answer,
                 timeout=60)
    restart_server_with(site(0), f"[rrl]\nenabled = yes\nresponses_per_second = {RATE}\nslip = {SLIP}\n")
    wait_for("site1 to answer again", lambda: udp(site(0)["dns_port"], make_query(f"www.{ZONE}")))
    time.sleep(1.1)  # a full bucket


class RateLimiting(unittest.TestCase):

    def test_1_flood_is_limited_other_sources_and_tcp_are_not(self):
        port = site(0)["dns_port"]
        before_dropped = metric(site(0), "zonemesh_rrl_dropped_total")
        before_slipped = metric(site(0), "zonemesh_rrl_slipped_total")
        count, seconds = 400, 2.0
        # Another /24 asks during the flood, ten times spread over it.
        other = []

        def other_source():
            for _ in range(10):
                other.append(udp(port, make_query(f"www.{ZONE}"), source="127.0.1.1"))
                time.sleep(seconds / 10)
        t = threading.Thread(target=other_source)
        t.start()
        full, truncated, replies = flood(port, count, seconds=seconds)
        t.join()
        print(f"flood of {count} in {seconds} s from 127.0.0.1: {full} answers, {truncated} truncated",
              file=sys.stderr)
        # At most the rate over the flood's time (plus one second's burst).
        self.assertLessEqual(full, RATE * (seconds + 1.5) + 5)
        self.assertGreater(full, 0)
        dropped = count - full
        self.assertGreater(dropped, count // 2, "most of the flood is dropped")
        # Every SLIP-th response over the rate is sent truncated.
        self.assertAlmostEqual(truncated, dropped / SLIP, delta=dropped * 0.1 + 5)
        # The other /24, at the same time: answered in full.
        self.assertEqual(len(other), 10)
        self.assertTrue(all(r is not None and r.answer and not r.flags & dns.flags.TC for r in other))
        # TCP still answers the flooded source.
        q = make_query(f"www.{ZONE}")
        r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=5)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertTrue(r.answer)
        # /metrics counts it.
        self.assertGreaterEqual(metric(site(0), "zonemesh_rrl_dropped_total") - before_dropped,
                                dropped - truncated)
        self.assertEqual(metric(site(0), "zonemesh_rrl_slipped_total") - before_slipped, truncated)

    def test_2_a_valid_cookie_is_not_limited(self):
        port = site(0)["dns_port"]
        time.sleep(1.1)
        r = udp(port, make_query(f"www.{ZONE}", cookie=b"\x01" * 8))
        cookie = cookie_of(r)
        self.assertEqual(len(cookie), 24)
        full, truncated, _ = flood(port, 200, cookie=cookie, seconds=1.0)
        self.assertEqual((full, truncated), (200, 0))


class Cookies(unittest.TestCase):

    def test_a_cookie_from_one_site_is_valid_at_the_other(self):
        client = bytes.fromhex("2464c4abcf10c957")
        r1 = udp(site(0)["dns_port"], make_query(f"www.{ZONE}", cookie=client))
        c1 = cookie_of(r1)
        self.assertIsNotNone(c1)
        self.assertEqual(c1[:8], client)
        self.assertEqual(len(c1), 24)
        self.assertEqual(c1[8], 1, "RFC 9018 version 1")
        r2 = udp(site(1)["dns_port"], make_query(f"www.{ZONE}", cookie=c1))
        self.assertEqual(r2.rcode(), dns.rcode.NOERROR)
        self.assertTrue(r2.answer)
        self.assertEqual(cookie_of(r2), c1, "site2 accepts and echoes site1's cookie")

    def test_a_wrong_server_cookie_gets_badcookie(self):
        client = bytes.fromhex("0102030405060708")
        forged = client + bytes.fromhex("01000000") + int(time.time()).to_bytes(4, "big") + b"\x99" * 8
        r = udp(site(1)["dns_port"], make_query(f"www.{ZONE}", cookie=forged))
        self.assertEqual(dns.rcode.to_text(r.rcode()), "BADCOOKIE")
        self.assertFalse(r.answer)
        fresh = cookie_of(r)
        self.assertEqual(len(fresh), 24)
        self.assertNotEqual(fresh, forged)
        r = udp(site(0)["dns_port"], make_query(f"www.{ZONE}", cookie=fresh))
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertTrue(r.answer)

    def test_malformed_cookie_is_formerr(self):
        r = udp(site(1)["dns_port"], make_query(f"www.{ZONE}", cookie=b"\x01" * 12))
        self.assertEqual(r.rcode(), dns.rcode.FORMERR)


if __name__ == "__main__":
    unittest.main(verbosity=2)
