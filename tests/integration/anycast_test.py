#!/usr/bin/env python3
"""Anycast failover in network namespaces (TEST-NET addresses only; nothing
leaves the machine).

  client ns (203.0.113.10, 2001:db8:ff::10) --- router ns (BIRD, BGP AS 64496) --- site1..3 ns

Each site namespace runs PostgreSQL, zonemesh-server, zonemesh-replicator,
BIRD (its configuration rendered from ansible/roles/anycast/templates/
bird.conf.j2, the one the role installs) and zonemesh-healthcheck, and holds
the service addresses 192.0.2.53 and 2001:db8::53 on a dummy interface (on
loopback where the kernel lacks the dummy module), announced over an IPv4
and an IPv6 BGP session. The client queries them; the router sends each
query to the best site that announces the address.

Checks: queries are answered; hostname.bind and NSID name the site; stopping
that site's server withdraws its route (the router keeps 2 paths) and queries
keep being answered by the others; restarting it announces it again; a write
at another site is answered through the anycast address after replication;
the maintenance file drains a site; with every site's PostgreSQL down every
site keeps announcing (a shared failure), while one site's database down
alone withdraws that site until it is back.

Exit 77 (ctest SKIP) when not root, or when network namespaces, bird, dig or
PostgreSQL are not available; it says why.
Usage: tests/integration/anycast_test.py   (ZONEMESH_BUILD_DIR: build dir)
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("ZONEMESH_BUILD_DIR", os.path.join(REPO, "build")))
SKIP = 77
SERVICE = "192.0.2.53"
SERVICE6 = "2001:db8::53"
ROUTER_AS = 64496  # documentation ASNs (RFC 5398)
SITES = 3
PREFIX = f"zm6a{os.getpid() % 100000}"


def log(msg):
    print(f"anycast_test: {msg}", flush=True)


def skip(msg):
    print(f"anycast_test: SKIPPED: {msg}", flush=True)
    sys.exit(SKIP)


def sh(cmd, check=True, ns=None, timeout=60, **kw):
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}{res.stderr}")
    return res


def pg_bindir():
    for version in ("17", "16", "15"):
        d = f"/usr/lib/postgresql/{version}/bin"
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    return None


def preflight():
    if os.geteuid() != 0:
        skip("needs root for network namespaces")
    for tool in ("ip", "dig", "psql", "runuser", "curl"):
        if not shutil.which(tool):
            skip(f"{tool} not installed")
    for path in ("/usr/sbin/bird", "/usr/sbin/birdc"):
        if not os.access(path, os.X_OK):
            skip(f"{path} not installed (apt-get install bird2)")
    if not pg_bindir():
        skip("PostgreSQL server binaries not installed")
    try:
        import jinja2  # noqa: F401
    except ImportError:
        skip("python3-jinja2 not installed")
    probe = f"{PREFIX}-probe"
    res = subprocess.run(["ip", "netns", "add", probe], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        skip(f"this machine does not allow network namespaces: {res.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], check=False)
    for prog in ("server/zonemesh-server", "server/zonemesh-admin", "server/zonemesh-healthcheck",
                 "replicator/zonemesh-replicator"):
        if not os.access(os.path.join(BUILD, prog), os.X_OK):
            raise RuntimeError(f"{BUILD}/{prog} missing: build first")


def render_site_bird(site, include):
    import jinja2
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(REPO, "ansible/roles/anycast/templates")),
        trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return env.get_template("bird.conf.j2").render(
        ansible_managed="rendered by tests/integration/anycast_test.py",
        zonemesh_anycast_router_id=site["addr"],
        zonemesh_anycast_bird_log="stderr",
        zonemesh_anycast_bird_include=include,
        zonemesh_anycast_symbol="ZONEMESH_ANYCAST_ANNOUNCE",
        zonemesh_anycast_interface=site["service_if"],
        zonemesh_anycast_service_ipv4=[SERVICE],
        zonemesh_anycast_service_ipv6=[SERVICE6],
        zonemesh_anycast_local_as=site["as"],
        zonemesh_anycast_bgp_neighbors=[{"name": "router", "address": site["router_addr"],
                                         "as": ROUTER_AS, "local_address": site["addr"]},
                                        {"name": "router6", "address": site["router_addr6"],
                                         "as": ROUTER_AS, "local_address": site["addr6"]}],
        zonemesh_anycast_bgp_hold_time=6,
        zonemesh_anycast_bgp_keepalive_time=2)


class Lab:
    def __init__(self, root):
        self.root = root
        self.namespaces = []
        self.procs = {}  # name -> Popen
        self.pg_sites = []
        self.router_ns = f"{PREFIX}-r"
        self.client_ns = f"{PREFIX}-c"
        self.sites = []
        for i in range(1, SITES + 1):
            base = 8 * i
            self.sites.append({
                "node": f"site{i}", "ns": f"{PREFIX}-s{i}", "dir": os.path.join(root, f"site{i}"),
                "addr": f"198.51.100.{base + 2}", "router_addr": f"198.51.100.{base + 1}",
                "addr6": f"2001:db8:{i}::2", "router_addr6": f"2001:db8:{i}::1",
                "as": ROUTER_AS + i})

    # ---- plumbing ----------------------------------------------------------
    def add_ns(self, name):
        sh(["ip", "netns", "add", name])
        self.namespaces.append(name)
        sh(["ip", "link", "set", "lo", "up"], ns=name)

    def link(self, ns_a, if_a, addr_a, ns_b, if_b, addr_b, addr6_a, addr6_b):
        sh(["ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b, "netns", ns_b])
        sh(["ip", "addr", "add", addr_a, "dev", if_a], ns=ns_a)
        sh(["ip", "addr", "add", addr_b, "dev", if_b], ns=ns_b)
        sh(["ip", "-6", "addr", "add", addr6_a, "dev", if_a, "nodad"], ns=ns_a)
        sh(["ip", "-6", "addr", "add", addr6_b, "dev", if_b, "nodad"], ns=ns_b)
        sh(["ip", "link", "set", if_a, "up"], ns=ns_a)
        sh(["ip", "link", "set", if_b, "up"], ns=ns_b)

    def network(self):
        self.add_ns(self.router_ns)
        self.add_ns(self.client_ns)
        sh(["sysctl", "-qw", "net.ipv4.ip_forward=1"], ns=self.router_ns)
        sh(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], ns=self.router_ns)
        self.link(self.router_ns, "to-client", "203.0.113.1/24", self.client_ns, "uplink", "203.0.113.10/24",
                  "2001:db8:ff::1/64", "2001:db8:ff::10/64")
        sh(["ip", "route", "add", "default", "via", "203.0.113.1"], ns=self.client_ns)
        sh(["ip", "-6", "route", "add", "default", "via", "2001:db8:ff::1"], ns=self.client_ns)
        for s in self.sites:
            self.add_ns(s["ns"])
            self.link(self.router_ns, f"to-{s['node']}", s["router_addr"] + "/29",
                      s["ns"], "uplink", s["addr"] + "/29", s["router_addr6"] + "/64", s["addr6"] + "/64")
            sh(["ip", "route", "add", "default", "via", s["router_addr"]], ns=s["ns"])
            sh(["ip", "-6", "route", "add", "default", "via", s["router_addr6"]], ns=s["ns"])
            # A dummy interface where the kernel has the module, else loopback.
            if sh(["ip", "link", "add", "zonemesh0", "type", "dummy"], ns=s["ns"], check=False).returncode == 0:
                s["service_if"] = "zonemesh0"
                sh(["ip", "link", "set", "zonemesh0", "up"], ns=s["ns"])
            else:
                s["service_if"] = "lo"
            sh(["ip", "addr", "add", SERVICE + "/32", "dev", s["service_if"]], ns=s["ns"])
            sh(["ip", "-6", "addr", "add", SERVICE6 + "/128", "dev", s["service_if"], "nodad"], ns=s["ns"])

    def spawn(self, name, cmd, ns, log_path):
        with open(log_path, "ab") as f:
            self.procs[name] = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdin=subprocess.DEVNULL,
                                                stdout=f, stderr=f, start_new_session=True)
        return self.procs[name]

    def stop(self, name, timeout=10):
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # ---- router --------------------------------------------------------------
    def router(self):
        conf = os.path.join(self.root, "router-bird.conf")
        lines = ["router id 203.0.113.1;", "log stderr all;", "protocol device { scan time 10; }",
                 "protocol kernel { ipv4 { export all; }; }", "protocol kernel { ipv6 { export all; }; }"]
        for s in self.sites:
            lines.append(f"protocol bgp {s['node']} {{ local {s['router_addr']} as {ROUTER_AS}; "
                         f"neighbor {s['addr']} as {s['as']}; hold time 6; keepalive time 2; "
                         "ipv4 { import all; export none; }; }")
            lines.append(f"protocol bgp {s['node']}_6 {{ local {s['router_addr6']} as {ROUTER_AS}; "
                         f"neighbor {s['addr6']} as {s['as']}; hold time 6; keepalive time 2; "
                         "ipv6 { import all; export none; }; }")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        sh(["/usr/sbin/bird", "-p", "-c", conf])
        self.router_sock = os.path.join(self.root, "router-bird.ctl")
        self.spawn("router-bird", ["/usr/sbin/bird", "-f", "-c", conf, "-s", self.router_sock],
                   self.router_ns, os.path.join(self.root, "router-bird.log"))

    def service_paths(self):
        """Site names the router has a route to 192.0.2.53/32 from, best first."""
        res = sh(["/usr/sbin/birdc", "-s", self.router_sock, "show", "route", f"{SERVICE}/32"], check=False)
        return re.findall(r"\[(site\d+) ", res.stdout)

    def service_paths6(self):
        """Site names the router has a route to 2001:db8::53/128 from, best first."""
        res = sh(["/usr/sbin/birdc", "-s", self.router_sock, "show", "route", f"{SERVICE6}/128"], check=False)
        return re.findall(r"\[(site\d+)_6 ", res.stdout)

    # ---- sites -----------------------------------------------------------------
    def site(self, s, tls):
        d = s["dir"]
        os.makedirs(d)
        shutil.chown(d, "postgres", "postgres")
        bindir = pg_bindir()
        pgdata = os.path.join(d, "pgdata")
        sh(["runuser", "-u", "postgres", "--", os.path.join(bindir, "initdb"), "-D", pgdata, "-U",
            "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        with open(os.path.join(pgdata, "postgresql.conf"), "a") as f:
            f.write(f"\nport = 5432\nunix_socket_directories = '{d}'\nlisten_addresses = ''\n"
                    "fsync = off\nsynchronous_commit = off\n")
        sh(["runuser", "-u", "postgres", "--", os.path.join(bindir, "pg_ctl"), "start", "-w", "-t", "60",
            "-D", pgdata, "-l", os.path.join(d, "postgres.log")], ns=s["ns"])
        self.pg_sites.append(s)
        s["pg"] = f"host={d} port=5432 dbname=zonemesh user=postgres"
        sh(["psql", "-X", "-q", "-h", d, "-p", "5432", "-U", "postgres", "-d", "postgres", "-c",
            "CREATE DATABASE zonemesh"])
        sh([os.path.join(BUILD, "server/zonemesh-admin"), "migrate", "--db", s["pg"], "--node", s["node"]])
        with open(os.path.join(d, "server.conf"), "w") as f:
            f.write(f"[server]\nnode = {s['node']}\nlisten = {SERVICE}:53\nlisten = [{SERVICE6}]:53\n"
                    f"listen = {s['addr']}:53\n"
                    f"listen = 127.0.0.1:53\nworkers = 1\nhostname = {s['node']}\nnsid = {s['node']}\n"
                    f"[database]\nconninfo = {s['pg']}\n[http]\nlisten = 0.0.0.0:8081\n[log]\nlevel = info\n")
        peers = [p for p in self.sites if p["node"] > s["node"]]
        with open(os.path.join(d, "replicator.conf"), "w") as f:
            f.write(f"[replicator]\nnode = {s['node']}\nlisten = {s['addr']}:7000\n")
            for p in peers:
                f.write(f"peer = {p['node']}@{p['addr']}:7000\n")
            f.write(f"[tls]\nca = {tls}/ca.pem\ncert = {tls}/{s['node']}.pem\nkey = {tls}/{s['node']}.key\n"
                    f"[database]\nconninfo = {s['pg']}\n[http]\nlisten = 127.0.0.1:8082\n[log]\nlevel = info\n")
        include = os.path.join(d, "zonemesh-anycast.conf")
        with open(include, "w") as f:  # what the role installs: withdrawn
            f.write("define ZONEMESH_ANYCAST_ANNOUNCE = 0;\n")
        s["bird_conf"] = os.path.join(d, "bird.conf")
        with open(s["bird_conf"], "w") as f:
            f.write(render_site_bird(s, include))
        sh(["/usr/sbin/bird", "-p", "-c", s["bird_conf"]])
        s["bird_sock"] = os.path.join(d, "bird.ctl")
        s["include"] = include
        with open(os.path.join(d, "healthcheck.conf"), "w") as f:
            f.write("[check]\ndns = 127.0.0.1:53\nname = example.com\ntype = SOA\n"
                    "health_url = http://127.0.0.1:8081/health\ninterval_ms = 300\ntimeout_ms = 250\n"
                    f"rise = 2\nfall = 2\nhold_down_ms = 1000\nmaintenance_file = {d}/maintenance\n")
            for p in self.sites:
                if p is not s:
                    f.write(f"peer = {p['node']} {p['addr']}:53 http://{p['addr']}:8081/health\n")
            f.write(f"[bird]\ninclude = {include}\nbirdc = /usr/sbin/birdc\nsocket = {s['bird_sock']}\n"
                    "[http]\nlisten = 127.0.0.1:8083\n[log]\nlevel = info\n")
        sh([os.path.join(BUILD, "server/zonemesh-healthcheck"), "--check-config",
            os.path.join(d, "healthcheck.conf")])

    def start(self, s, what):
        d = s["dir"]
        cmds = {
            "server": [os.path.join(BUILD, "server/zonemesh-server"), "--config", os.path.join(d, "server.conf")],
            "replicator": [os.path.join(BUILD, "replicator/zonemesh-replicator"), "--config",
                           os.path.join(d, "replicator.conf")],
            "bird": ["/usr/sbin/bird", "-f", "-c", s["bird_conf"], "-s", s["bird_sock"]],
            "healthcheck": [os.path.join(BUILD, "server/zonemesh-healthcheck"), "--config",
                            os.path.join(d, "healthcheck.conf")],
        }
        self.spawn(f"{s['node']}-{what}", cmds[what], s["ns"], os.path.join(d, f"{what}.log"))

    def pg_ctl(self, s, action):
        extra = ["-l", os.path.join(s["dir"], "postgres.log")] if action == "start" else ["-m", "fast"]
        sh(["runuser", "-u", "postgres", "--", os.path.join(pg_bindir(), "pg_ctl"), action, "-w", "-t", "60",
            "-D", os.path.join(s["dir"], "pgdata")] + extra, ns=s["ns"])

    def teardown(self):
        for name in list(self.procs):
            self.stop(name)
        for s in self.pg_sites:
            sh(["runuser", "-u", "postgres", "--", os.path.join(pg_bindir(), "pg_ctl"), "stop", "-w", "-m",
                "immediate", "-D", os.path.join(s["dir"], "pgdata")], check=False)
        for ns in reversed(self.namespaces):
            sh(["ip", "netns", "del", ns], check=False)

    # ---- client ----------------------------------------------------------------
    def dig(self, *args):
        res = sh(["dig", "+time=1", "+tries=1", f"@{SERVICE}"] + list(args), ns=self.client_ns, check=False)
        return res.stdout

    def checker_http(self, s, path):
        return sh(["curl", "-s", "--max-time", "5", f"http://127.0.0.1:8083{path}"], ns=s["ns"]).stdout

    def who_answers(self, service=SERVICE):
        """The site named by hostname.bind through the anycast address, or None."""
        out = sh(["dig", "+short", "+time=1", "+tries=1", f"@{service}", "hostname.bind", "CH", "TXT"],
                 ns=self.client_ns, check=False).stdout.strip()
        m = re.fullmatch(r'"(site\d+)"', out)
        return m.group(1) if m else None


def wait_for(what, predicate, timeout=60.0, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    log(f"ok: {msg}")


def run(lab):
    lab.network()
    lab.router()
    tls = os.path.join(lab.root, "tls")
    sh([os.path.join(REPO, "scripts/make-certs"), tls] + [s["node"] for s in lab.sites])
    for s in lab.sites:
        lab.site(s, tls)
    # The zone the health check asks for, created at site1 only: the other
    # sites serve it once replication has brought it.
    first = lab.sites[0]
    sh(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", first["pg"], "-c",
        "SELECT create_zone('example.com', ARRAY['ns1.example.com', 'ns2.example.com']);"
        "INSERT INTO records (zone, name, type, ttl, content) "
        "VALUES ('example.com', 'www.example.com', 'A', 300, '192.0.2.80');"])
    for s in lab.sites:
        lab.start(s, "server")
        lab.start(s, "replicator")
        lab.start(s, "bird")
    # Nothing is announced before the health checkers run.
    time.sleep(3)
    check(lab.service_paths() == [], "no site announces 192.0.2.53 before its health check passes")
    for s in lab.sites:
        lab.start(s, "healthcheck")
    paths = wait_for("3 paths to 192.0.2.53 at the router", lambda: len(lab.service_paths()) == 3 and lab.service_paths())
    check(sorted(paths) == ["site1", "site2", "site3"], f"the router has a path from every site: {paths}")
    paths6 = wait_for("3 paths to 2001:db8::53 at the router",
                      lambda: len(lab.service_paths6()) == 3 and lab.service_paths6())
    check(sorted(paths6) == ["site1", "site2", "site3"], f"and to the /128 over IPv6 BGP: {paths6}")
    best6 = wait_for("an answer to hostname.bind over IPv6", lambda: lab.who_answers(SERVICE6))
    check(best6 == paths6[0], f"2001:db8::53 is answered by the router's best IPv6 path ({best6})")

    answer = lab.dig("www.example.com", "A")
    check("192.0.2.80" in answer and "status: NOERROR" in answer, "www.example.com A answered through the anycast address")
    best = wait_for("an answer to hostname.bind", lab.who_answers)
    check(best == paths[0], f"hostname.bind names the site of the router's best path ({best})")
    nsid = lab.dig("+nsid", "www.example.com", "A")
    check(f'NSID: ' in nsid and f'("{best}")' in nsid, f"NSID names {best} as well")

    # Stop the answering site's server: its route goes, the others answer.
    failed = next(s for s in lab.sites if s["node"] == best)
    log(f"stopping {best}'s zonemesh-server")
    lab.stop(f"{best}-server")
    wait_for(f"{best}'s route to be withdrawn", lambda: best not in lab.service_paths() and lab.service_paths())
    check(len(lab.service_paths()) == 2, f"the router keeps the 2 other paths: {lab.service_paths()}")
    wait_for(f"{best}'s IPv6 route to be withdrawn", lambda: best not in lab.service_paths6())
    check(len(lab.service_paths6()) == 2, f"and 2 IPv6 paths: {lab.service_paths6()}")
    answer6 = lab.who_answers(SERVICE6)
    check(answer6 not in (None, best), f"2001:db8::53 is answered by another site ({answer6})")
    with open(failed["include"]) as f:
        check("= 0;" in f.read(), f"{best}'s health checker wrote the withdrawn include")
    metrics = lab.checker_http(failed, "/metrics")
    check("zonemesh_healthcheck_announced 0" in metrics
          and 'zonemesh_healthcheck_route_changes_total{to="withdrawn"} 2' in metrics
          and re.search(r'zonemesh_healthcheck_checks_total\{verdict="fail"\} [1-9]', metrics),
          f"{best}'s checker reports the withdrawal and the failed checks in /metrics")
    check(lab.checker_http(failed, "/health").strip() == "ok", f"{best}'s checker /health: birdc works")
    answers = [lab.who_answers() for _ in range(10)]
    check(all(a is not None and a != best for a in answers), f"queries keep being answered by the others: {answers}")
    answer = lab.dig("www.example.com", "A")
    check("192.0.2.80" in answer, "www.example.com A still answered")

    # Restart it: announced again, and the router prefers it again.
    log(f"restarting {best}'s zonemesh-server")
    lab.start(failed, "server")
    wait_for(f"{best}'s route to come back", lambda: len(lab.service_paths()) == 3)
    check(best in lab.service_paths(), f"{best} announces 192.0.2.53 again")
    wait_for(f"{best}'s IPv6 route to come back", lambda: len(lab.service_paths6()) == 3)
    log(f"ok: {best} announces 2001:db8::53 again")
    wait_for(f"{best} to answer again", lambda: lab.who_answers() == best, timeout=30)
    log(f"ok: {best} answers again through the anycast address")

    # A write at another site is answered through the anycast address.
    writer = next(s for s in lab.sites if s["node"] != best)
    sh(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", writer["pg"], "-c",
        "INSERT INTO records (zone, name, type, ttl, content) "
        "VALUES ('example.com', 'new.example.com', 'A', 300, '192.0.2.81');"])
    wait_for("new.example.com through the anycast address",
             lambda: "192.0.2.81" in lab.dig("+short", "new.example.com", "A"), timeout=30)
    check(lab.who_answers() == best,
          f"new.example.com, written at {writer['node']}, is answered by {best} after replication")

    # Maintenance (drain): the checker withdraws at once, and announces after it.
    open(os.path.join(failed["dir"], "maintenance"), "w").close()
    wait_for(f"{best} drained", lambda: best not in lab.service_paths() and lab.service_paths())
    check(lab.who_answers() not in (None, best), f"a drained {best} gets no queries")
    os.unlink(os.path.join(failed["dir"], "maintenance"))
    wait_for(f"{best} back after maintenance", lambda: len(lab.service_paths()) == 3)
    log("ok: announced again after maintenance")

    # A failure every site shares withdraws nobody: with every database down
    # the servers answer from their last good data and all keep announcing.
    for s in lab.sites:
        lab.pg_ctl(s, "stop")
    for s in lab.sites:
        wait_for(f"{s['node']}'s checker to see its database down",
                 lambda s=s: re.search(r'checks_total\{verdict="pass_shared"\} [1-9]', lab.checker_http(s, "/metrics")))
    time.sleep(2)  # several fall counts' worth of checks
    check(len(lab.service_paths()) == 3, f"every database down: every site still announces ({lab.service_paths()})")
    answer = lab.dig("www.example.com", "A")
    check("192.0.2.80" in answer, "and answers from its last good data")
    # Back at two sites only: the third is now the odd one out and withdrawn.
    for s in lab.sites[1:]:
        lab.pg_ctl(s, "start")
    lone = lab.sites[0]["node"]
    wait_for(f"{lone}'s route to be withdrawn (its database alone down)",
             lambda: lone not in lab.service_paths() and len(lab.service_paths()) == 2, timeout=90)
    log(f"ok: with only {lone}'s database down, {lone} is withdrawn")
    lab.pg_ctl(lab.sites[0], "start")
    wait_for(f"{lone} back once its database is", lambda: len(lab.service_paths()) == 3, timeout=90)
    log(f"ok: {lone} announced again once its database is back")


def main():
    preflight()
    root = tempfile.mkdtemp(prefix="zonemesh-anycast-")
    os.chmod(root, 0o755)
    lab = Lab(root)
    ok = False
    try:
        run(lab)
        ok = True
    except Exception as e:  # report, keep the logs
        log(f"FAILED: {e}")
        for s in lab.sites:
            for name in ("healthcheck", "bird", "server", "replicator"):
                p = os.path.join(s["dir"], f"{name}.log")
                if os.path.exists(p):
                    with open(p, errors="replace") as f:
                        tail = f.read()[-1500:]
                    print(f"---- {s['node']} {name}.log (tail) ----\n{tail}", flush=True)
        p = os.path.join(root, "router-bird.log")
        if os.path.exists(p):
            with open(p, errors="replace") as f:
                print(f"---- router bird.log (tail) ----\n{f.read()[-1500:]}", flush=True)
    finally:
        lab.teardown()
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"logs kept in {root}")
    if not ok:
        sys.exit(1)
    log("PASSED")


if __name__ == "__main__":
    main()
