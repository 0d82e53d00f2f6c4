#!/usr/bin/env bash
# Replication latency and catch-up of two zonemesh checkouts side by side,
# in alternating rounds on fresh 3-site clusters, so a change to the
# replication core is measured against the code before it on the same
# machine in one run. Each checkout is run with its own scripts and
# bench/replication_zonemesh.py (their configurations differ) and its own
# build in CHECKOUT/build (scripts/build).
#
#   bench/replication_ab.sh BEFORE_CHECKOUT AFTER_CHECKOUT [--rounds 2] [--work DIR]
#                           [--latency 100] [--catchup 100000]
#
# One JSON line per result in WORK/results.jsonl, each with "build"
# ("before" or "after") and "round"; a summary table on stdout.
set -euo pipefail
before=$(cd "${1:?before checkout}" && pwd)
after=$(cd "${2:?after checkout}" && pwd)
shift 2
rounds=2
work=/tmp/zonemesh-bench-ab
latency=100
catchup=100000
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift ;;
    --work) work=$2; shift ;;
    --latency) latency=$2; shift ;;
    --catchup) catchup=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$work"
out=$work/results.jsonl
: > "$out"
for round in $(seq "$rounds"); do
  for v in before after; do
    if [ $v = before ]; then src=$before; else src=$after; fi
    echo "== round $round $v ($src at $(git -C "$src" rev-parse --short HEAD)), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    ZONEMESH_BUILD_DIR=$src/build "$src/bench/replication_zonemesh.py" --dir "$work/$v$round" --latency "$latency" \
      --catchup "$catchup" --sustained '' --cap 300 |
      sed "s/^{/{\"build\": \"$v\", \"round\": $round, /" >> "$out"
  done
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| build | round | latency B / C dns p50 | p99 | catch-up B / C (s) | PostgreSQL CPU A / B / C (s) | load |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
for r in [r for r in rows if r["bench"] == "catchup"]:
    lat = {x["probe"]: x for x in rows if x["bench"] == "latency" and x["build"] == r["build"] and x["round"] == r["round"]}
    cpu = " / ".join(str(v.get("postgres")) for v in r["cpu_s"].values())
    print(f"| {r['build']} | {r['round']} | {lat['B dns']['p50_ms']} / {lat['C dns']['p50_ms']} ms | "
          f"{lat['B dns']['p99_ms']} / {lat['C dns']['p99_ms']} ms | "
          f"{r['dns_done_s']['B dns']} / {r['dns_done_s']['C dns']} | {cpu} | {r['load']} |")
PY
