#!/usr/bin/env python3
"""The Ansible rollout, checked the way an operator would:

1. yamllint and `ansible-lint --profile production` on ansible/;
2. `ansible-playbook --syntax-check site.yml` with the example inventory;
3. the BIRD configuration of every example site rendered from the role's
   template and checked with `bird -p -c FILE`;
4. a real converge of site.yml against this machine (connection local, each
   site's paths under a temporary directory, binaries from the build
   directory, each site's PostgreSQL data directory under it run as the
   postgres user on a free port, services run by zonemesh-supervise instead
   of systemd, BIRD and the dummy interface left alone):
   - site1 alone: it answers DNS (hostname.bind names it), /health is 200,
     its health checker announced it; the same run again reports changed=0;
   - site2 added to the inventory: it bootstraps from site1 (answers a record
     written at site1), site1 gets it as a peer through a drained restart;
     again changed=0 for both;
   - a configuration change: each site in turn is drained (withdrawn),
     restarted, checked and announced again.

Exit 77 (ctest SKIP) with the reason when ansible, ansible-lint, yamllint,
bird or PostgreSQL are missing or when not root (PostgreSQL runs as postgres).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE = os.path.join(REPO, "ansible")
BUILD = os.path.abspath(os.environ.get("ZONEMESH_BUILD_DIR", os.path.join(REPO, "build")))
SKIP = 77


def log(msg):
    print(f"ansible_test: {msg}", flush=True)


def skip(msg):
    print(f"ansible_test: SKIPPED: {msg}", flush=True)
    sys.exit(SKIP)


def run(cmd, cwd=ANSIBLE, env=None, timeout=900):
    log("$ " + " ".join(cmd))
    res = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env, timeout=timeout)
    if res.returncode != 0 or os.environ.get("ZONEMESH_ANSIBLE_TEST_VERBOSE"):
        print(res.stdout[-12000:], flush=True)
    if res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode})")
    return res.stdout


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))  # DNS needs UDP too
    return port


def ansible_env(tmp):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": os.path.join(ANSIBLE, "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(tmp, "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": os.path.join(tmp, "ansible-remote"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOME": os.path.join(tmp, "ansible-home"),
    })
    return env


def recap(output):
    """{host: {ok, changed, failed, ...}} from the PLAY RECAP."""
    out = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", output, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


def lint(tmp):
    env = ansible_env(tmp)
    run(["yamllint", "-s", "-c", os.path.join(ANSIBLE, ".yamllint"), "."], env=env)
    log("ok: yamllint")
    out = run(["ansible-lint", "--offline", "--profile", "production", "--nocolor"], env=env)
    log("ok: ansible-lint --profile production: " + (out.strip().splitlines() or [""])[-1])
    run(["ansible-playbook", "--syntax-check", "-i", "inventories/example/hosts.yml", "site.yml"], env=env)
    log("ok: ansible-playbook --syntax-check site.yml")


def render_example_bird(tmp):
    """Renders every example site's bird.conf with the role's template; bird -p checks each."""
    out_dir = os.path.join(tmp, "bird-example")
    os.makedirs(out_dir)
    playbook = os.path.join(tmp, "render-bird.yml")
    with open(playbook, "w") as f:
        f.write(f"""---
- name: Render the example sites' BIRD configurations
  hosts: zonemesh_sites
  connection: local
  gather_facts: false
  vars_files:
    - {ANSIBLE}/roles/anycast/defaults/main.yml
  vars:
    zonemesh_anycast_bird_include: {out_dir}/zonemesh-anycast.conf
    zonemesh_anycast_bird_log: stderr
  tasks:
    - name: Create the include
      ansible.builtin.copy:
        content: "define ZONEMESH_ANYCAST_ANNOUNCE = 0;\\n"
        dest: "{{{{ zonemesh_anycast_bird_include }}}}"
        mode: "0644"
      run_once: true
    - name: Render bird.conf (checked with bird -p)
      ansible.builtin.template:
        src: {ANSIBLE}/roles/anycast/templates/bird.conf.j2
        dest: "{out_dir}/{{{{ inventory_hostname }}}}.conf"
        mode: "0644"
        validate: /usr/sbin/bird -p -c %s
""")
    run(["ansible-playbook", "-i", "inventories/example/hosts.yml", playbook], env=ansible_env(tmp))
    for site in ("site1", "site2", "site3"):
        conf = os.path.join(out_dir, f"{site}.conf")
        run(["/usr/sbin/bird", "-p", "-c", conf])
        with open(conf) as f:
            text = f.read()
        assert "route 192.0.2.53/32 blackhole;" in text and "route 2001:db8::53/128 blackhole;" in text, text
    log("ok: the example sites' BIRD configurations pass bird -p")


SITE_PORTS = ("zonemesh_postgresql_port", "zonemesh_server_dns_port", "zonemesh_server_http_port",
              "zonemesh_replicator_port", "zonemesh_replicator_http_port", "checker_http_port")


def write_inventory(path, tmp, sites, group_vars):
    """Every site on this machine (connection local) under tmp/<site>, its own ports."""
    inventory = {"zonemesh_sites": {"hosts": {}, "vars": group_vars}}
    for name, ports in sites.items():
        host = {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
                "zonemesh_root_dir": os.path.join(tmp, name)}
        host.update({k: v for k, v in ports.items() if k != "checker_http_port"})
        host["zonemesh_anycast_check_http_listen"] = f"127.0.0.1:{ports['checker_http_port']}"
        inventory["zonemesh_sites"]["hosts"][name] = host
    with open(path, "w") as f:
        json.dump(inventory, f, indent=2)  # JSON is YAML


def site_run(tmp, cmd, env, expect_hosts, what):
    out = run(cmd, env=env)
    r = recap(out)
    log(f"{what}: {r}")
    for host in expect_hosts:
        assert r.get(host, {}).get("failed", 1) == 0 and r[host].get("unreachable", 1) == 0, out[-6000:]
    return out, r


def dig(port, *args):
    return subprocess.run(["dig", "+short", "+time=2", "+tries=2", "-p", str(port), "@127.0.0.1"] + list(args),
                          stdout=subprocess.PIPE, text=True).stdout.strip()


def check_site(tmp, name, ports):
    """The site answers DNS and names itself, /health is 200, its checker announced it."""
    root = os.path.join(tmp, name)
    assert dig(ports["zonemesh_server_dns_port"], "hostname.bind", "CH", "TXT") == f'"{name}"'
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['zonemesh_server_http_port']}/health", timeout=5) as r:
        assert r.status == 200
    with open(os.path.join(root, "etc/bird/zonemesh-anycast.conf")) as f:
        assert "define ZONEMESH_ANYCAST_ANNOUNCE = 1;" in f.read()
    for path in ("etc/zonemesh/server.conf", "etc/zonemesh/replicator.conf", "etc/zonemesh/healthcheck.conf",
                 "etc/zonemesh/tls/" + name + ".key", "etc/bird/bird.conf", "usr/local/bin/zonemesh-server",
                 "var/lib/zonemesh/postgresql/PG_VERSION"):
        assert os.path.exists(os.path.join(root, path)), path
    assert oct(os.stat(os.path.join(root, f"etc/zonemesh/tls/{name}.key")).st_mode & 0o777) == "0o640"
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['checker_http_port']}/metrics", timeout=5) as r:
        assert "zonemesh_healthcheck_announced 1" in r.read().decode()
    log(f"ok: {name} answers hostname.bind \"{name}\", /health 200, announced in its BIRD include")


def assert_unchanged(out, r, hosts):
    bad = [h for h in hosts if r.get(h, {}).get("changed") != 0]
    if bad:
        blocks = re.split(r"\n(?=TASK \[|RUNNING HANDLER \[)", out)
        changed = [b.strip() for b in blocks if re.search(r"^changed: ", b, re.M)]
        raise AssertionError(f"the run changed something on {bad}:\n" + "\n".join(changed))


def converge(tmp):
    sites = {name: {key: free_port() for key in SITE_PORTS} for name in ("site1", "site2")}
    group_vars = {
        "zonemesh_service_manager": "supervise",
        "zonemesh_install_packages": False,
        "zonemesh_create_user": False,
        "zonemesh_user": "root",
        "zonemesh_group": "root",
        "zonemesh_build_dir": BUILD,
        "zonemesh_tls_source_dir": os.path.join(tmp, "tls"),
        "zonemesh_tls_make_certs": os.path.join(REPO, "scripts", "make-certs"),
        "zonemesh_unicast_address": "127.0.0.1",
        "zonemesh_server_listen": ["127.0.0.1"],
        "zonemesh_server_extra_listen": [],  # no anycast addresses on this machine
        "zonemesh_server_workers": 1,
        "zonemesh_postgresql_fsync": "off",
        "zonemesh_postgresql_synchronous_commit": "off",
        "zonemesh_postgresql_shared_buffers": "32MB",
        "zonemesh_postgresql_effective_cache_size": "128MB",
        "zonemesh_anycast_manage_interface": False,
        "zonemesh_anycast_manage_bird": False,
        "zonemesh_anycast_router_id": "192.0.2.1",
        "zonemesh_anycast_bgp_neighbors": [{"name": "router", "address": "192.0.2.254", "as": 64496}],
        "zonemesh_anycast_check_interval_ms": 200,
        "zonemesh_anycast_check_timeout_ms": 150,
        "zonemesh_anycast_check_rise": 2,
        "zonemesh_anycast_check_hold_down_ms": 1000,
        "zonemesh_drain_seconds": 1,
    }
    inventory = os.path.join(tmp, "hosts.yml")
    cmd = ["ansible-playbook", "-i", inventory, "site.yml"]
    env = ansible_env(tmp)

    # 1. One site, converged twice.
    write_inventory(inventory, tmp, {"site1": sites["site1"]}, group_vars)
    out, r = site_run(tmp, cmd, env, ["site1"], "first run (site1)")
    assert r["site1"]["changed"] > 0, "the first run changed nothing?"
    check_site(tmp, "site1", sites["site1"])
    out, r = site_run(tmp, cmd, env, ["site1"], "second run (site1)")
    assert_unchanged(out, r, ["site1"])
    log("ok: the second run reports changed=0")

    # 2. Add a site: it bootstraps from site1 (the zone written at site1
    # reaches it), site1 gets it as a peer (a drained replicator restart).
    site1_pg = (f"host={tmp}/site1/run/zonemesh-postgresql port={sites['site1']['zonemesh_postgresql_port']} "
                "dbname=zonemesh user=postgres")
    run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", site1_pg, "-c",
         "SELECT create_zone('example.com', ARRAY['ns1.example.com', 'ns2.example.com']);"
         "INSERT INTO records (zone, name, type, ttl, content) "
         "VALUES ('example.com', 'www.example.com', 'A', 300, '192.0.2.80');"])
    write_inventory(inventory, tmp, sites, group_vars)
    out, r = site_run(tmp, cmd, env, ["site1", "site2"], "run with site2 added")
    with open(os.path.join(tmp, "site1/etc/zonemesh/replicator.conf")) as f:
        text = f.read()
    assert f"peer = site2@127.0.0.1:{sites['site2']['zonemesh_replicator_port']}" in text, text
    with open(os.path.join(tmp, "site2/etc/zonemesh/healthcheck.conf")) as f:
        text = f.read()
    assert (f"peer = site1 127.0.0.1:{sites['site1']['zonemesh_server_dns_port']} "
            f"http://127.0.0.1:{sites['site1']['zonemesh_server_http_port']}/health") in text, text
    assert re.search(r"RUNNING HANDLER \[zonemesh : Drain the site \(withdraw the service address\)\]"
                     r"[^\n]*\nchanged: \[site1\]", out), "site1 was not drained for its new peer"
    log("ok: site1 got site2 as a peer, drained")
    check_site(tmp, "site2", sites["site2"])
    assert dig(sites["site2"]["zonemesh_server_dns_port"], "www.example.com", "A") == "192.0.2.80"
    log("ok: site2 bootstrapped from site1: it answers www.example.com, written at site1")
    out, r = site_run(tmp, cmd, env, ["site1", "site2"], "second run (two sites)")
    assert_unchanged(out, r, ["site1", "site2"])
    log("ok: the second run with two sites reports changed=0")

    # 3. A change that needs a restart is drained, one site at a time:
    # withdraw, restart, check, announce.
    group_vars["zonemesh_log_level"] = "debug"
    write_inventory(inventory, tmp, sites, group_vars)
    out, r = site_run(tmp, cmd, env, ["site1", "site2"], "run with a new log level")
    for site in ("site1", "site2"):
        for step in ("Drain the site (withdraw the service address)",
                     "Wait until the health checker has withdrawn the address",
                     "Restart zonemesh-server (supervise)", "Check that the restarted server is healthy",
                     "Announce the site again (end of the drain)",
                     "Wait until the health checker has announced the address again"):
            m = re.search(r"RUNNING HANDLER \[zonemesh : " + re.escape(step) + r"\][^\n]*\n(\w+): \[" + site + r"\]",
                          out)
            assert m and m.group(1) in ("ok", "changed"), f"{site}: handler {step!r} did not run:\n{out[-6000:]}"
        check_site(tmp, site, sites[site])
    order = [m.group(1) for m in re.finditer(r"RUNNING HANDLER \[zonemesh : Drain the site[^\n]*\nchanged: \[(\w+)\]",
                                             out)]
    assert order == ["site1", "site2"], order
    log("ok: a configuration change drained, restarted and announced each site in turn")


def teardown(root):
    if not root or not os.path.isdir(root):
        return
    supervise = os.path.join(root, "usr/local/bin/zonemesh-supervise")
    run_dir = os.path.join(root, "run/zonemesh")
    if os.path.exists(supervise):
        for name in ("zonemesh-healthcheck", "zonemesh-replicator", "zonemesh-server", "bird"):
            subprocess.run([supervise, "stop", name, run_dir], stdout=subprocess.DEVNULL, check=False)
    pgdata = os.path.join(root, "var/lib/zonemesh/postgresql")
    if os.path.exists(os.path.join(pgdata, "postmaster.pid")):
        for version in ("17", "16", "15"):
            pg_ctl = f"/usr/lib/postgresql/{version}/bin/pg_ctl"
            if os.path.exists(pg_ctl):
                subprocess.run(["runuser", "-u", "postgres", "--", pg_ctl, "stop", "-w", "-m", "fast", "-D", pgdata],
                               stdout=subprocess.DEVNULL, check=False)
                break


def main():
    for tool in ("ansible-playbook", "ansible-lint", "yamllint", "dig", "runuser"):
        if not shutil.which(tool):
            skip(f"{tool} not installed (scripts/install-deps installs ansible, ansible-lint, yamllint)")
    if not os.access("/usr/sbin/bird", os.X_OK):
        skip("bird (bird2) not installed")
    if not os.path.exists("/usr/lib/postgresql/15/bin/initdb"):
        skip("postgresql-15 not installed")
    if os.geteuid() != 0:
        skip("the converge runs PostgreSQL as the postgres user: needs root")
    for prog in ("server/zonemesh-server", "server/zonemesh-healthcheck", "replicator/zonemesh-replicator"):
        if not os.access(os.path.join(BUILD, prog), os.X_OK):
            raise SystemExit(f"ansible_test: {BUILD}/{prog} missing: build first")
    tmp = tempfile.mkdtemp(prefix="zonemesh-ansible-")
    os.chmod(tmp, 0o755)  # the postgres user must reach its data directory
    ok = False
    try:
        lint(tmp)
        render_example_bird(tmp)
        converge(tmp)
        ok = True
    finally:
        for site in ("site1", "site2"):
            teardown(os.path.join(tmp, site))
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp} for inspection")
    log("PASSED")


if __name__ == "__main__":
    main()
