"""What the DNS integration tests share: free ports, a zonemesh cluster in a
temporary directory, and stopping the reference servers they start.

Imported by test_answers.py and test_transfers.py (run with /usr/bin/python3).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CLUSTER = os.path.join(REPO, "scripts", "cluster")
BUILD_DIR = os.path.abspath(os.environ.get("ZONEMESH_BUILD_DIR", os.path.join(REPO, "build")))
KEEP = os.environ.get("ZONEMESH_KEEP_TMP") == "1"


def free_port():
    """A port free for UDP and TCP on 127.0.0.1."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def require_tools(tools, packages):
    for tool in tools:
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            raise RuntimeError(f"{tool} not found: run scripts/install-deps ({packages})")
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def cluster_up(env, prefix, sites):
    """Starts `sites` zonemesh sites under a new temporary directory, noting
    tmp and cluster_dir in `env` (for cluster_down, even after a failure);
    returns the sites' JSON."""
    tmp = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(tmp, 0o755)
    env["tmp"] = tmp
    cluster_dir = os.path.join(tmp, "cluster")
    res = subprocess.run([CLUSTER, "up", "--sites", str(sites), "--dir", cluster_dir, "--fast"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, ZONEMESH_BUILD_DIR=BUILD_DIR), timeout=300)
    env["cluster_dir"] = cluster_dir
    if res.returncode != 0:
        raise RuntimeError(f"scripts/cluster up failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout)["sites"]


def cluster_down(env):
    """Stops the cluster and removes the temporary directory (kept with
    ZONEMESH_KEEP_TMP=1)."""
    if "cluster_dir" in env:
        subprocess.run([CLUSTER, "down", "--dir", env["cluster_dir"]] + ([] if KEEP else ["--remove"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, ZONEMESH_BUILD_DIR=BUILD_DIR), timeout=120)
    if "tmp" in env:
        if KEEP:
            print(f"kept {env['tmp']}", file=sys.stderr)
        else:
            shutil.rmtree(env["tmp"], ignore_errors=True)


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def psql(site, sql):
    """Runs sql at a site of the cluster (its "pg" conninfo); the output, stripped."""
    res = subprocess.run(["psql", site["pg"], "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"psql failed: {res.stderr}")
    return res.stdout.strip()


def wait_for(what, predicate, timeout=30.0):
    """Polls predicate every 0.1 s until it returns something true; returns that."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
