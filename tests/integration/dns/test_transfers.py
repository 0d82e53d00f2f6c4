#!/usr/bin/python3
"""Zone transfers, TSIG and NOTIFY between zonemesh and the DNS world.

A 2-site zonemesh cluster (scripts/cluster: PostgreSQL, zonemesh-server and
zonemesh-replicator per site) serves sec.test, which site1 lets transfer with
a TSIG key and whose ALSO-NOTIFY names a Knot, an NSD and a BIND secondary
(real knotd, nsd and named from Debian, pulling from site1 with the key). The tests check
what an operator would: transfers are refused without the key and rejected
with a wrong one (BADKEY, BADSIG, BADTIME as RFC 8945 says), a transfer
equals the zone as zonemesh-admin exports it and is the same at both sites,
the secondaries end up serving exactly zonemesh's zone, and an SQL edit at
either site reaches them through NOTIFY.

Run with /usr/bin/python3 (Debian's python3-dnspython) as root or a user who
may run PostgreSQL (scripts/cluster).
"""

import base64
import os
import subprocess
import sys
import time
import unittest
from unittest import mock

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.zone

from support import BUILD_DIR, cluster_down, cluster_up, free_port, psql, require_tools, stop, wait_for

ADMIN = os.path.join(BUILD_DIR, "server", "zonemesh-admin")

ZONE = "sec.test"
CATALOG = "catalog.test"
KEY_NAME = "xfr-key"
SECRET = base64.b64encode(bytes(range(100, 132))).decode()
KEYRING = dns.tsigkeyring.from_text({KEY_NAME + ".": ("hmac-sha256", SECRET)})
UPDATE_KEY = "update-key"
UPDATE_SECRET = base64.b64encode(bytes(range(7, 71))).decode()  # 64 octets for hmac-sha512
ENV = {}


def query(port, name, rdtype, keyring=None, keyname=None, tcp=False):
    q = dns.message.make_query(name, rdtype)
    if keyring is not None:
        q.use_tsig(keyring, keyname=keyname)
    fn = dns.query.tcp if tcp else dns.query.udp
    return fn(q, "127.0.0.1", port=port, timeout=5)


def serial_at(port, name=ZONE):
    try:
        r = query(port, name, "SOA")
    except Exception:  # not up yet
        return None
    if r.rcode() != dns.rcode.NOERROR or not r.answer:
        return None
    return r.answer[0][0].serial


def transfer(port, keyring=KEYRING, keyname=KEY_NAME, rdtype="AXFR", serial=0, zone=ZONE):
    """The zone as transferred: a dnspython zone (raises on refusal)."""
    xfr = dns.query.xfr("127.0.0.1", zone, rdtype=rdtype, serial=serial, port=port, timeout=10,
                        keyring=keyring, keyname=keyname, lifetime=30, relativize=False)
    return dns.zone.from_xfr(xfr, relativize=False)


def exported_zone(site):
    res = subprocess.run([ADMIN, "export-zone", "--db", site["pg"], "--zone", ZONE],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError(f"export-zone failed: {res.stderr}")
    return dns.zone.from_text(res.stdout, origin=ZONE + ".", relativize=False)


def zone_diff(a, b):
    """The records only in a and only in b, for failure messages."""
    def rrs(z):
        return {f"{n} {ttl} {rr.rdtype!r} {rr}" for n, ttl, rr in z.iterate_rdatas()}
    ra, rb = rrs(a), rrs(b)
    return f"only in the first: {sorted(ra - rb)[:10]}; only in the second: {sorted(rb - ra)[:10]}"


def start_knot(tmp, port, primary_port):
    d = os.path.join(tmp, "knot")
    os.makedirs(os.path.join(d, "db"), exist_ok=True)
    conf = os.path.join(d, "knot.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
    rundir: "{d}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{d}/db"
log:
  - target: stderr
    any: info
key:
  - id: {KEY_NAME}
    algorithm: hmac-sha256
    secret: {SECRET}
remote:
  - id: zonemesh
    address: 127.0.0.1@{primary_port}
    key: {KEY_NAME}
acl:
  - id: from_zonemesh
    address: 127.0.0.1
    key: {KEY_NAME}
    action: notify
  - id: transfer_out
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    storage: "{d}/db"
    zonefile-sync: -1
    journal-content: changes
  - id: catalog_member
    storage: "{d}/db"
    zonefile-sync: -1
    journal-content: changes
    master: zonemesh
    acl: [from_zonemesh, transfer_out]
zone:
  - domain: {ZONE}.
    master: zonemesh
    acl: [from_zonemesh, transfer_out]
  - domain: {CATALOG}.
    master: zonemesh
    acl: [from_zonemesh, transfer_out]
    catalog-role: interpret
    catalog-template: catalog_member
""")
    log = open(os.path.join(d, "knotd.log"), "wb")
    return subprocess.Popen(["knotd", "-c", conf], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True)


EXT = "ext.test"
EXP = "exp.test"  # a secondary zone whose SOA expires after 12 s


def ext_zone_text(serial, extra=""):
    return f"""$ORIGIN {EXT}.
$TTL 300
@ SOA ns1.{EXT}. hostmaster.{EXT}. {serial} 3600 600 86400 300
@ NS ns1.{EXT}.
@ MX 10 mail.{EXT}.
ns1 A 192.0.2.53
mail A 192.0.2.25
www A 192.0.2.80
www AAAA 2001:db8::80
txt TXT "external data"
{extra}
"""


def start_knot_primary(tmp, port, notify_port):
    """Knot serving ext.test from a file, as the external primary of a
    zonemesh secondary zone; it notifies site1."""
    d = os.path.join(tmp, "knot-primary")
    os.makedirs(os.path.join(d, "db"), exist_ok=True)
    with open(os.path.join(d, f"{EXT}.zone"), "w") as f:
        f.write(ext_zone_text(2024010101))
    with open(os.path.join(d, f"{EXP}.zone"), "w") as f:
        f.write(f"$ORIGIN {EXP}.\n@ 300 SOA ns1 hostmaster 1 5 5 12 300\n@ 300 NS ns1\nns1 300 A 192.0.2.53\n"
                f"www 300 A 192.0.2.81\n")
    conf = os.path.join(d, "knot.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
    rundir: "{d}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "{d}/knot.sock"
database:
    storage: "{d}/db"
log:
  - target: stderr
    any: info
key:
  - id: {KEY_NAME}
    algorithm: hmac-sha256
    secret: {SECRET}
remote:
  - id: site1
    address: 127.0.0.1@{notify_port}
    key: {KEY_NAME}
acl:
  - id: zonemesh_pulls
    address: 127.0.0.1
    key: {KEY_NAME}
    action: transfer
template:
  - id: default
    storage: "{d}"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
zone:
  - domain: {EXT}.
    notify: site1
    acl: zonemesh_pulls
  - domain: {EXP}.
    acl: zonemesh_pulls
""")
    log = open(os.path.join(d, "knotd.log"), "ab")
    ENV["knot_primary_conf"] = conf
    ENV["knot_primary_dir"] = d
    return subprocess.Popen(["knotd", "-c", conf], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def start_nsd(tmp, port, primary_port):
    d = os.path.join(tmp, "nsd")
    os.makedirs(os.path.join(d, "xfr"), exist_ok=True)
    conf = os.path.join(d, "nsd.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
    ip-address: 127.0.0.1
    port: {port}
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}/xfr"
    pidfile: "{d}/nsd.pid"
    logfile: "{d}/nsd.log"
    verbosity: 2
remote-control:
    control-enable: no
key:
    name: "{KEY_NAME}"
    algorithm: hmac-sha256
    secret: "{SECRET}"
zone:
    name: "{ZONE}"
    zonefile: "{d}/{ZONE}.zone"
    allow-notify: 127.0.0.1 {KEY_NAME}
    request-xfr: 127.0.0.1@{primary_port} {KEY_NAME}
    provide-xfr: 127.0.0.1 NOKEY
""")
    check = subprocess.run(["nsd-checkconf", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nsd-checkconf: {check.stdout}")
    log = open(os.path.join(d, "stdout.log"), "wb")
    return subprocess.Popen(["nsd", "-d", "-c", conf], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def start_named(tmp, port, primary_port):
    """BIND 9 as a third kind of secondary of site1."""
    d = os.path.join(tmp, "named")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "named.conf")
    with open(conf, "w") as f:
        f.write(f"""options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-transfer {{ 127.0.0.1; }};
}};
controls {{ }};
key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
zone "{ZONE}" {{
    type secondary;
    primaries {{ 127.0.0.1 port {primary_port} key "{KEY_NAME}"; }};
    file "{d}/{ZONE}.db";
}};
""")
    check = subprocess.run(["named-checkconf", conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"named-checkconf: {check.stdout}")
    log = open(os.path.join(d, "named.log"), "wb")
    return subprocess.Popen(["named", "-g", "-c", conf], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def load_zone(site):
    hosts = ",".join(f"('{ZONE}', 'h{i}.{ZONE}', 'A', '198.51.100.{i % 250 + 1}')" for i in range(1500))
    psql(site, f"""
        BEGIN;
        SELECT create_zone('{ZONE}', ARRAY['ns1.{ZONE}', 'ns2.{ZONE}']);
        INSERT INTO records (zone, name, type, content) VALUES
          ('{ZONE}', 'ns1.{ZONE}', 'A', '192.0.2.1'),
          ('{ZONE}', 'ns2.{ZONE}', 'AAAA', '2001:db8::2'),
          ('{ZONE}', '{ZONE}', 'MX', '10 mail.{ZONE}'),
          ('{ZONE}', 'mail.{ZONE}', 'A', '192.0.2.25'),
          ('{ZONE}', '{ZONE}', 'TXT', '"v=spf1 -all" "second string"'),
          ('{ZONE}', '*.wild.{ZONE}', 'A', '192.0.2.80'),
          ('{ZONE}', 'www.{ZONE}', 'CNAME', 'mail.{ZONE}'),
          ('{ZONE}', 'sub.{ZONE}', 'NS', 'ns.sub.{ZONE}'),
          ('{ZONE}', 'ns.sub.{ZONE}', 'A', '192.0.2.99'),
          {hosts};
        INSERT INTO tsig_keys (name, algorithm, secret) VALUES ('{KEY_NAME}', 'hmac-sha256', '{SECRET}');
        INSERT INTO zone_metadata (zone, kind, content) VALUES
          ('{ZONE}', 'TSIG-ALLOW-AXFR', '{KEY_NAME}'),
          ('{ZONE}', 'ALSO-NOTIFY', '127.0.0.1:{ENV["knot"]}'),
          ('{ZONE}', 'ALSO-NOTIFY', '127.0.0.1:{ENV["nsd"]}'),
          ('{ZONE}', 'ALSO-NOTIFY', '127.0.0.1:{ENV["named"]}');
        INSERT INTO tsig_keys (name, algorithm, secret) VALUES ('{UPDATE_KEY}', 'hmac-sha512', '{UPDATE_SECRET}');
        INSERT INTO zone_metadata (zone, kind, content) VALUES ('{ZONE}', 'TSIG-ALLOW-DNSUPDATE', '{UPDATE_KEY}');
        SELECT create_catalog_zone('{CATALOG}');
        INSERT INTO zone_metadata (zone, kind, content) VALUES
          ('{CATALOG}', 'TSIG-ALLOW-AXFR', '{KEY_NAME}'),
          ('{CATALOG}', 'ALSO-NOTIFY', '127.0.0.1:{ENV["knot"]}');
        COMMIT;""")


def setUpModule():
    require_tools(("knotd", "nsd", "named", "nsupdate", "psql"), "knot, nsd, bind9, postgresql")
    unittest.addModuleCleanup(cleanup)
    ENV["sites"] = cluster_up(ENV, "zonemesh-transfers-", 2)
    tmp = ENV["tmp"]
    ENV["knot"] = free_port()
    ENV["nsd"] = free_port()
    ENV["named"] = free_port()
    site1, site2 = ENV["sites"]
    load_zone(site1)
    # The zone, its key and its metadata replicate: both sites serve it.
    for s in (site1, site2):
        wait_for(f"{ZONE} served at {s['node']}", lambda s=s: serial_at(s["dns_port"]))
        wait_for(f"{CATALOG} served at {s['node']}", lambda s=s: serial_at(s["dns_port"], CATALOG))
    ENV["knot_primary"] = free_port()
    ENV["knot_primary_proc"] = start_knot_primary(tmp, ENV["knot_primary"], site1["dns_port"])
    psql(site1, f"""
        BEGIN;
        SELECT create_zone('{EXT}', ARRAY['ns1.{EXT}'], NULL, 'secondary');
        INSERT INTO zone_metadata (zone, kind, content) VALUES
          ('{EXT}', 'PRIMARY', '127.0.0.1:{ENV["knot_primary"]}'),
          ('{EXT}', 'AXFR-MASTER-TSIG', '{KEY_NAME}'),
          ('{EXT}', 'SECONDARY-SITE', '{site1["node"]}'),
          ('{EXT}', 'TSIG-ALLOW-AXFR', '{KEY_NAME}');
        SELECT create_zone('{EXP}', ARRAY['ns1.{EXP}'], NULL, 'secondary');
        INSERT INTO zone_metadata (zone, kind, content) VALUES
          ('{EXP}', 'PRIMARY', '127.0.0.1:{ENV["knot_primary"]}'),
          ('{EXP}', 'AXFR-MASTER-TSIG', '{KEY_NAME}'),
          ('{EXP}', 'SECONDARY-SITE', '{site1["node"]}');
        COMMIT;""")
    ENV["knot_proc"] = start_knot(tmp, ENV["knot"], site1["dns_port"])
    ENV["nsd_proc"] = start_nsd(tmp, ENV["nsd"], site1["dns_port"])
    ENV["named_proc"] = start_named(tmp, ENV["named"], site1["dns_port"])
    print(f"zonemesh sites on DNS ports {site1['dns_port']}, {site2['dns_port']}; knotd {ENV['knot']}, "
          f"nsd {ENV['nsd']}, named {ENV['named']}; files in {tmp}", file=sys.stderr, flush=True)


def cleanup():
    for proc in ("knot_primary_proc", "knot_proc", "nsd_proc", "named_proc"):
        stop(ENV.get(proc))
    cluster_down(ENV)

def site(i):
    return ENV["sites"][i]


class Access(unittest.TestCase):
    def test_unsigned_transfer_is_refused_at_every_site(self):
        for i in (0, 1):
            with self.assertRaises(dns.query.TransferError) as e:
                transfer(site(i)["dns_port"], keyring=None, keyname=None)
            self.assertEqual(e.exception.rcode, dns.rcode.REFUSED)

    def test_unknown_key_gets_badkey(self):
        ring = dns.tsigkeyring.from_text({"other-key.": ("hmac-sha256", SECRET)})
        with self.assertRaises(dns.tsig.PeerBadKey):
            transfer(site(0)["dns_port"], keyring=ring, keyname="other-key.")

    def test_wrong_secret_gets_badsig(self):
        ring = dns.tsigkeyring.from_text({KEY_NAME + ".": ("hmac-sha256", base64.b64encode(b"x" * 32).decode())})
        with self.assertRaises(dns.tsig.PeerBadSignature):
            transfer(site(0)["dns_port"], keyring=ring)

    def test_wrong_algorithm_gets_badkey(self):
        ring = dns.tsigkeyring.from_text({KEY_NAME + ".": ("hmac-sha512", SECRET)})
        with self.assertRaises(dns.tsig.PeerBadKey):
            transfer(site(0)["dns_port"], keyring=ring)

    def test_clock_an_hour_off_gets_badtime(self):
        real = time.time
        with mock.patch("dns.message.time.time", lambda: real() - 3600):
            with self.assertRaises(dns.tsig.PeerBadTime):
                transfer(site(0)["dns_port"])

    def test_a_zone_not_served_is_notauth(self):
        xfr = dns.query.xfr("127.0.0.1", "not-served.test", port=site(0)["dns_port"], timeout=10,
                            keyring=KEYRING, keyname=KEY_NAME, lifetime=30, relativize=False)
        with self.assertRaises(dns.query.TransferError) as e:
            dns.zone.from_xfr(xfr, relativize=False)
        self.assertEqual(e.exception.rcode, dns.rcode.NOTAUTH)

    def test_signed_queries_get_signed_answers(self):
        # dnspython checks the reply's TSIG against the request's MAC.
        r = query(site(1)["dns_port"], f"mail.{ZONE}", "A", keyring=KEYRING, keyname=KEY_NAME)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertTrue(r.had_tsig)
        self.assertEqual(r.answer[0][0].address, "192.0.2.25")


class Transfers(unittest.TestCase):
    def test_axfr_is_the_zone_at_both_sites(self):
        expected = exported_zone(site(0))
        one = transfer(site(0)["dns_port"])
        two = transfer(site(1)["dns_port"])
        self.assertEqual(len(one.nodes), len(expected.nodes))
        self.assertEqual(one, expected)
        self.assertEqual(two, expected)
        self.assertEqual(one.get_rdataset(ZONE + ".", "SOA")[0].serial, serial_at(site(0)["dns_port"]))

    def test_axfr_allowed_by_network(self):
        psql(site(0), f"INSERT INTO zone_metadata (zone, kind, content) "
                      f"VALUES ('{ZONE}', 'ALLOW-AXFR-FROM', '127.0.0.0/8')")
        try:
            # The rule and the zone's new serial (metadata counts as a change)
            # are picked up by the server independently: wait for both.
            expected = exported_zone(site(0))
            wait_for("the new serial", lambda: serial_at(site(0)["dns_port"]) ==
                     expected.get_rdataset(ZONE + ".", "SOA")[0].serial)
            zone = wait_for("the network rule to apply",
                            lambda: self._try(lambda: transfer(site(0)["dns_port"], keyring=None, keyname=None)))
            self.assertEqual(zone, expected, zone_diff(zone, expected))
        finally:
            psql(site(0), f"DELETE FROM zone_metadata WHERE zone = '{ZONE}' AND kind = 'ALLOW-AXFR-FROM'")
        wait_for("the rule to be gone", lambda: self._refused(site(0)["dns_port"]))

    @staticmethod
    def _try(fn):
        try:
            return fn()
        except dns.query.TransferError:
            return None

    @staticmethod
    def _refused(port):
        try:
            transfer(port, keyring=None, keyname=None)
            return False
        except dns.query.TransferError as e:
            return e.rcode == dns.rcode.REFUSED

    def test_ixfr_of_the_current_serial_is_the_soa_alone(self):
        port = site(0)["dns_port"]
        serial = serial_at(port)
        q = dns.message.make_query(ZONE, "IXFR")
        q.use_tsig(KEYRING, keyname=KEY_NAME)
        soa = dns.rrset.from_text(ZONE + ".", 0, "IN", "SOA", f". . {serial} 0 0 0 0")
        q.authority.append(soa)
        r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=10)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(len(r.answer), 1)
        self.assertEqual(r.answer[0].rdtype, dns.rdatatype.SOA)
        self.assertEqual(r.answer[0][0].serial, serial)

    def test_ixfr_over_udp_without_soa_is_formerr_as_knot(self):
        """RFC 1995 3: the client's SOA goes in authority. Over UDP, from a
        client allowed to transfer, Knot answers FORMERR without it; so do we."""
        def ask(port, zone, with_soa):
            q = dns.message.make_query(zone, "IXFR")
            if with_soa:
                q.authority.append(dns.rrset.from_text(zone + ".", 0, "IN", "SOA", ". . 1 0 0 0 0"))
            q.use_tsig(KEYRING, keyname=KEY_NAME)
            return dns.query.udp(q, "127.0.0.1", port=port, timeout=5, ignore_trailing=True)
        for port, zone, who in ((site(0)["dns_port"], ZONE, "zonemesh"),
                                (ENV["knot_primary"], EXT, "Knot")):
            with self.subTest(server=who):
                self.assertEqual(dns.rcode.to_text(ask(port, zone, False).rcode()), "FORMERR")
                r = ask(port, zone, True)
                self.assertEqual(dns.rcode.to_text(r.rcode()), "NOERROR")
                self.assertEqual([rr.rdtype for rr in r.answer], [dns.rdatatype.SOA])

    def test_ixfr_after_an_edit_is_the_difference(self):
        port = site(0)["dns_port"]
        before = transfer(port)
        old = before.get_rdataset(ZONE + ".", "SOA")[0].serial
        psql(site(0), f"BEGIN; INSERT INTO records (zone, name, type, content) VALUES "
                      f"('{ZONE}', 'ixfr.{ZONE}', 'A', '203.0.113.50'); "
                      f"DELETE FROM records WHERE name = 'h7.{ZONE}'; COMMIT;")
        new = wait_for("the new serial", lambda: (serial_at(port) or old) != old and serial_at(port))
        q = dns.message.make_query(ZONE, "IXFR")
        q.use_tsig(KEYRING, keyname=KEY_NAME)
        q.authority.append(dns.rrset.from_text(ZONE + ".", 0, "IN", "SOA", f". . {old} 0 0 0 0"))
        r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=10, one_rr_per_rrset=True)
        got = [(str(rrset.name), dns.rdatatype.to_text(rrset.rdtype), rr.to_text()) for rrset in r.answer
               for rr in rrset]
        soa = [g for g in got if g[1] == "SOA"]
        self.assertEqual([int(g[2].split()[2]) for g in soa], [new, old, new, new], got)
        self.assertEqual([g for g in got if g[1] != "SOA"],
                         [(f"h7.{ZONE}.", "A", "198.51.100.8"), (f"ixfr.{ZONE}.", "A", "203.0.113.50")])
        # Deleted comes between the old SOA and the second new one, added after that.
        at = [i for i, g in enumerate(got) if g[1] == "SOA"]
        self.assertEqual(got[at[1] + 1:at[2]], [(f"h7.{ZONE}.", "A", "198.51.100.8")])
        self.assertEqual(got[at[2] + 1:at[3]], [(f"ixfr.{ZONE}.", "A", "203.0.113.50")])

    def test_ixfr_from_an_old_serial_is_the_whole_zone(self):
        zone = transfer(site(0)["dns_port"], rdtype="IXFR", serial=1)
        self.assertEqual(zone, exported_zone(site(0)))


SECONDARIES = ("knot", "nsd", "named")


class Secondaries(unittest.TestCase):
    """Knot, NSD and BIND as secondaries of site1."""

    def assert_secondaries_serve(self, expected_serial):
        for who in SECONDARIES:
            wait_for(f"{who} to serve serial {expected_serial}",
                     lambda who=who: serial_at(ENV[who]) == expected_serial, timeout=60)

    def test_1_secondaries_transfer_the_zone(self):
        serial = serial_at(site(0)["dns_port"])
        self.assert_secondaries_serve(serial)
        expected = exported_zone(site(0))
        for who in SECONDARIES:
            got = transfer(ENV[who], keyring=None, keyname=None)
            self.assertEqual(got, expected, f"{who}'s copy differs")

    def test_2_sql_edit_reaches_secondaries_by_notify(self):
        # The secondaries' SOA refresh is 3 h: only a NOTIFY makes them pull now.
        psql(site(0), f"INSERT INTO records (zone, name, type, content) "
                      f"VALUES ('{ZONE}', 'notified.{ZONE}', 'A', '203.0.113.7')")
        for who in SECONDARIES:
            wait_for(f"{who} to answer the new record",
                     lambda who=who: self._answers(ENV[who], f"notified.{ZONE}") == ["203.0.113.7"], timeout=60)

    def test_3_edit_at_the_other_site_reaches_secondaries(self):
        # Written at site2, replicated to site1, which serves a new serial and notifies.
        psql(site(1), f"UPDATE records SET content = '203.0.113.8' WHERE name = 'mail.{ZONE}' AND type = 'A'")
        for who in SECONDARIES:
            wait_for(f"{who} to answer the replicated change",
                     lambda who=who: self._answers(ENV[who], f"mail.{ZONE}") == ["203.0.113.8"], timeout=60)
        expected = exported_zone(site(0))
        for who in SECONDARIES:
            self.assertEqual(transfer(ENV[who], keyring=None, keyname=None), expected, f"{who}'s copy differs")
        # After the first full transfer, Knot got the changes incrementally.
        with open(os.path.join(ENV["tmp"], "knot", "knotd.log"), errors="replace") as f:
            log = f.read()
        self.assertRegex(log, rf"\[{ZONE}\.\] IXFR, incoming, remote [^\n]*finished")

    def test_4_api_records_of_new_and_generic_types_reach_secondaries(self):
        """Every new kind of data, written through the API, transfers to Knot,
        NSD and BIND as zonemesh serves it: RFC 3597 generic types, EUI48/64,
        L32, APL, a TXT string split at 255 octets, SVCB with parameters."""
        import json
        import urllib.request
        rrsets = [
            ("generic", "TYPE65534", ["\\# 3 010203"]),
            ("eui", "EUI48", ["00-00-5e-00-53-2a"]),
            ("eui", "EUI64", ["00-00-5e-ef-10-00-00-2a"]),
            ("l32", "L32", ["10 10.1.2.0"]),
            ("apl", "APL", ["1:192.168.32.0/21 !1:192.168.38.0/28"]),
            ("long", "TXT", ['"' + "x" * 300 + '"']),
            ("svc", "SVCB", [f"1 www.{ZONE}. alpn=h2,h3 port=8443"]),
        ]
        body = {"rrsets": [{"name": f"{owner}.{ZONE}.", "type": typ, "ttl": 300, "changetype": "REPLACE",
                            "records": [{"content": c, "disabled": False} for c in contents]}
                           for owner, typ, contents in rrsets]}
        req = urllib.request.Request(
            f"http://127.0.0.1:{site(0)['http_port']}/api/v1/servers/localhost/zones/{ZONE}.",
            data=json.dumps(body).encode(), method="PATCH",
            headers={"X-API-Key": site(0)["api_key"], "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            self.assertEqual(resp.status, 204)
        self.assertEqual(psql(site(0), f"SELECT content FROM records WHERE name = 'long.{ZONE}'"),
                         '"' + "x" * 255 + '" "' + "x" * 45 + '"')
        expected = exported_zone(site(0))
        for owner, typ, _ in rrsets:
            self.assertIsNotNone(expected.get_rdataset(f"{owner}.{ZONE}.", typ), f"{owner} {typ} not exported")
        for who in SECONDARIES:
            wait_for(f"{who} to hold the new records",
                     lambda who=who: transfer(ENV[who], keyring=None, keyname=None) == expected, timeout=60)

    @staticmethod
    def _answers(port, name):
        try:
            r = query(port, name, "A")
        except Exception:
            return None
        return sorted(rr.address for rrset in r.answer for rr in rrset if rrset.rdtype == dns.rdatatype.A)


def nsupdate(port, commands, key=f"hmac-sha512:{UPDATE_KEY}:{UPDATE_SECRET}"):
    script = f"server 127.0.0.1 {port}\nzone {ZONE}\n" + commands + "\nsend\n"
    args = ["nsupdate"] + (["-y", key] if key else [])
    res = subprocess.run(args, input=script, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=60)
    return res.returncode, res.stdout


def answers(port, name, rdtype="A"):
    try:
        r = query(port, name, rdtype)
    except Exception:
        return None
    return sorted(rr.to_text() for rrset in r.answer for rr in rrset if rrset.rdtype == dns.rdatatype.from_text(rdtype))


class Updates(unittest.TestCase):
    """nsupdate (BIND's) with a TSIG key against site1; answers at both sites."""

    def test_add_and_delete_reach_every_site(self):
        rc, out = nsupdate(site(0)["dns_port"], f"update add upd.{ZONE} 300 A 192.0.2.201\n"
                                                f"update add upd.{ZONE} 300 A 192.0.2.202\n"
                                                f"update add upd.{ZONE} 300 TXT \"two words\"\n"
                                                f"update add {ZONE} 300 MX 20 mx2.{ZONE}")
        self.assertEqual(rc, 0, out)
        for i in (0, 1):
            port = site(i)["dns_port"]
            wait_for(f"the update at {site(i)['node']}",
                     lambda port=port: answers(port, f"upd.{ZONE}") == ["192.0.2.201", "192.0.2.202"])
            self.assertEqual(answers(port, f"upd.{ZONE}", "TXT"), ['"two words"'])
            self.assertIn(f"20 mx2.{ZONE}.", answers(port, ZONE, "MX"))
        self.assertEqual(psql(site(1), f"SELECT count(*) FROM records WHERE name = 'upd.{ZONE}'"), "3")

        rc, out = nsupdate(site(0)["dns_port"], f"update delete upd.{ZONE} A 192.0.2.201\n"
                                                f"update delete upd.{ZONE} TXT")
        self.assertEqual(rc, 0, out)
        for i in (0, 1):
            port = site(i)["dns_port"]
            wait_for(f"the deletion at {site(i)['node']}",
                     lambda port=port: answers(port, f"upd.{ZONE}") == ["192.0.2.202"])
            wait_for("the TXT gone", lambda port=port: answers(port, f"upd.{ZONE}", "TXT") == [])

    def test_prerequisites_decide_and_failures_change_nothing(self):
        rc, out = nsupdate(site(0)["dns_port"], f"prereq nxdomain pre.{ZONE}\nupdate add pre.{ZONE} 60 A 192.0.2.9")
        self.assertEqual(rc, 0, out)
        before = psql(site(0), f"SELECT count(*) FROM records WHERE zone = '{ZONE}'")
        # The name exists now: the same update fails, and its other change too.
        rc, out = nsupdate(site(0)["dns_port"], f"prereq nxdomain pre.{ZONE}\n"
                                                f"update add other.{ZONE} 60 A 192.0.2.10")
        self.assertNotEqual(rc, 0)
        self.assertIn("YXDOMAIN", out)
        rc, out = nsupdate(site(0)["dns_port"], f"prereq yxrrset pre.{ZONE} A 192.0.2.99\n"
                                                f"update delete pre.{ZONE}")
        self.assertNotEqual(rc, 0)
        self.assertIn("NXRRSET", out)
        self.assertEqual(psql(site(0), f"SELECT count(*) FROM records WHERE zone = '{ZONE}'"), before)
        # The exact RRset as prerequisite: it holds.
        rc, out = nsupdate(site(0)["dns_port"], f"prereq yxrrset pre.{ZONE} A 192.0.2.9\nupdate delete pre.{ZONE}")
        self.assertEqual(rc, 0, out)
        wait_for("the name gone", lambda: answers(site(1)["dns_port"], f"pre.{ZONE}") == [])

    def test_without_the_key_or_with_a_wrong_one_nothing_changes(self):
        before = psql(site(0), f"SELECT count(*) FROM records WHERE zone = '{ZONE}'")
        rc, out = nsupdate(site(0)["dns_port"], f"update add nokey.{ZONE} 60 A 192.0.2.11", key=None)
        self.assertNotEqual(rc, 0)
        self.assertIn("REFUSED", out)
        wrong = base64.b64encode(b"y" * 64).decode()
        rc, out = nsupdate(site(0)["dns_port"], f"update add badkey.{ZONE} 60 A 192.0.2.12",
                           key=f"hmac-sha512:{UPDATE_KEY}:{wrong}")
        self.assertNotEqual(rc, 0)
        # The transfer key is a valid key, but not one allowed to update.
        rc, out = nsupdate(site(0)["dns_port"], f"update add xfrkey.{ZONE} 60 A 192.0.2.13",
                           key=f"hmac-sha256:{KEY_NAME}:{SECRET}")
        self.assertNotEqual(rc, 0)
        self.assertIn("REFUSED", out)
        self.assertEqual(psql(site(0), f"SELECT count(*) FROM records WHERE zone = '{ZONE}'"), before)
        self.assertEqual(answers(site(0)["dns_port"], f"nokey.{ZONE}"), [])


class SecondaryZone(unittest.TestCase):
    """ext.test comes from an external Knot primary: site1 pulls it with
    TSIG, the cluster replicates it, NOTIFY from the primary refreshes it."""

    @staticmethod
    def records(zone):
        """Every record but the SOA's serial, as text."""
        out = set()
        for name, ttl, rr in zone.iterate_rdatas():
            text = rr.to_text()
            if rr.rdtype == dns.rdatatype.SOA:
                text = text.replace(f" {rr.serial} ", " SERIAL ")
            out.add(f"{name} {ttl} {dns.rdatatype.to_text(rr.rdtype)} {text}")
        return out

    def primary_zone(self):
        return transfer(ENV["knot_primary"], zone=EXT)

    def test_1_pulled_and_served_at_every_site(self):
        for i in (0, 1):
            port = site(i)["dns_port"]
            wait_for(f"{EXT} at {site(i)['node']}",
                     lambda port=port: answers(port, f"www.{EXT}") == ["192.0.2.80"], timeout=60)
        want = self.records(self.primary_zone())
        for i in (0, 1):
            port = site(i)["dns_port"]
            wait_for("the whole zone", lambda port=port: self.records(transfer(port, zone=EXT)) == want, timeout=30)

    def test_2_notify_from_the_primary_refreshes(self):
        wait_for("the first pull", lambda: answers(site(1)["dns_port"], f"www.{EXT}") == ["192.0.2.80"], timeout=60)
        with open(os.path.join(ENV["knot_primary_dir"], f"{EXT}.zone"), "w") as f:
            f.write(ext_zone_text(2024010102, "new A 203.0.113.99").replace("www A 192.0.2.80\n", ""))
        res = subprocess.run(["knotc", "-c", ENV["knot_primary_conf"], "zone-reload", EXT + "."],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stdout)
        # The SOA refresh is an hour: only the NOTIFY makes site1 pull now.
        for i in (0, 1):
            port = site(i)["dns_port"]
            wait_for(f"the change at {site(i)['node']}",
                     lambda port=port: answers(port, f"new.{EXT}") == ["203.0.113.99"], timeout=60)
            wait_for("the removal", lambda port=port: answers(port, f"www.{EXT}") == [], timeout=30)
        self.assertEqual(self.records(transfer(site(1)["dns_port"], zone=EXT)), self.records(self.primary_zone()))
        # Knot keeps a journal, so site1 pulled only the difference.
        with open(os.path.join(site(0)["dir"], "server.log"), errors="replace") as f:
            self.assertRegex(f.read(), rf"secondary zone {EXT}: IXFR serial 2024010102: ")


class Catalog(unittest.TestCase):
    """Knot consumes the catalog zone (RFC 9432) of site1."""

    def catalog_members(self, port):
        zone = transfer(port, rdtype="AXFR", zone=CATALOG)
        return sorted(str(rr.target) for name, ttl, rr in zone.iterate_rdatas("PTR"))

    def test_catalog_lists_every_zone_at_both_sites(self):
        expected = sorted([ZONE + ".", EXT + ".", EXP + "."])
        for i in (0, 1):
            self.assertEqual(self.catalog_members(site(i)["dns_port"]), expected)
        zone = transfer(site(0)["dns_port"], zone=CATALOG)
        self.assertEqual([r.strings for r in zone.get_rdataset("version." + CATALOG + ".", "TXT")], [(b"2",)])
        self.assertEqual(zone, transfer(site(1)["dns_port"], zone=CATALOG))

    def test_knot_follows_zones_created_and_deleted_by_sql(self):
        # Created at site2 (replicated to site1, which Knot pulls from).
        psql(site(1), "SELECT create_zone('fresh.test', ARRAY['ns1.fresh.test'])")
        psql(site(1), "INSERT INTO records (zone, name, type, content) VALUES "
                      "('fresh.test', 'www.fresh.test', 'A', '203.0.113.44')")
        wait_for("knot to serve the new zone",
                 lambda: Secondaries._answers(ENV["knot"], "www.fresh.test") == ["203.0.113.44"], timeout=60)
        self.assertIn("fresh.test.", self.catalog_members(site(0)["dns_port"]))
        psql(site(0), "DELETE FROM zones WHERE name = 'fresh.test'")
        wait_for("knot to drop the deleted zone",
                 lambda: self._rcode(ENV["knot"], "www.fresh.test") == dns.rcode.REFUSED, timeout=60)
        self.assertNotIn("fresh.test.", self.catalog_members(site(1)["dns_port"]))

    @staticmethod
    def _rcode(port, name):
        try:
            return query(port, name, "A").rcode()
        except Exception:
            return None


class ZoneExpiry(unittest.TestCase):
    """Runs last: it stops the Knot primary. exp.test's SOA expire is 12 s."""

    @staticmethod
    def rcode(port, name):
        try:
            return query(port, name, "A").rcode()
        except Exception:
            return None

    def test_an_expired_secondary_zone_is_servfail_everywhere_until_refreshed(self):
        for i in (0, 1):
            port = site(i)["dns_port"]
            wait_for(f"{EXP} at {site(i)['node']}",
                     lambda port=port: answers(port, f"www.{EXP}") == ["192.0.2.81"], timeout=60)
        stop(ENV["knot_primary_proc"])
        for i in (0, 1):
            port = site(i)["dns_port"]
            wait_for(f"SERVFAIL for the expired zone at {site(i)['node']}",
                     lambda port=port: self.rcode(port, f"www.{EXP}") == dns.rcode.SERVFAIL, timeout=90)
        # Other zones are answered as before, ext.test (expire 1 day) too.
        self.assertEqual(answers(site(1)["dns_port"], f"mail.{ZONE}"), ["203.0.113.8"])
        self.assertEqual(self.rcode(site(1)["dns_port"], f"new.{EXT}"), dns.rcode.NOERROR)
        # The primary is back: the next retry refreshes, every site answers again.
        log = open(os.path.join(ENV["knot_primary_dir"], "knotd.log"), "ab")
        ENV["knot_primary_proc"] = subprocess.Popen(["knotd", "-c", ENV["knot_primary_conf"]], stdout=log,
                                                    stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        for i in (0, 1):
            port = site(i)["dns_port"]
            wait_for(f"{EXP} answered again at {site(i)['node']}",
                     lambda port=port: answers(port, f"www.{EXP}") == ["192.0.2.81"], timeout=90)


if __name__ == "__main__":
    unittest.main(verbosity=2)
