#!/usr/bin/env bash
# Replication benchmarks, zonemesh and Bucardo side by side in one run
# (one after the other, on the same machine), then a markdown table.
#
#   bench/replication.sh [--fast] [--work DIR] [--latency 300] [--catchup 100000]
#                        [--sustained 200000:100,10000:1] [--no-bucardo] [--no-reduced]
#
# zonemesh: bench/replication_zonemesh.py on a scripts/cluster 3-site cluster.
# Bucardo: bench/replication_bucardo.py (apt-get install -y bucardo postgresql-plperl-15),
# stock settings, then a shorter run with its polling sleeps at 0.01 s.
# Results: one JSON line each in WORK/results.jsonl; the table on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=/tmp/zonemesh-bench-repl
fast=()
latency=300
catchup=100000
sustained=200000:100,10000:1
bucardo=1
reduced=1
while [ $# -gt 0 ]; do
  case $1 in
    --fast) fast=(--fast) ;;
    --work) work=$2; shift ;;
    --latency) latency=$2; shift ;;
    --catchup) catchup=$2; shift ;;
    --sustained) sustained=$2; shift ;;
    --no-bucardo) bucardo=0 ;;
    --no-reduced) reduced=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$work"
out=$work/results.jsonl
: > "$out"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); nproc $(nproc)" >&2
"$here/replication_zonemesh.py" --dir "$work/zm" "${fast[@]}" --latency "$latency" --catchup "$catchup" \
  --sustained "$sustained" | tee -a "$out"
if [ $bucardo = 1 ]; then
  command -v bucardo >/dev/null || { echo "bucardo not installed: apt-get install -y bucardo postgresql-plperl-15" >&2; exit 1; }
  "$here/replication_bucardo.py" --dir "$work/bucardo" "${fast[@]}" --latency "$latency" --catchup "$catchup" \
    --sustained "$sustained" | tee -a "$out"
  if [ $reduced = 1 ]; then
    "$here/replication_bucardo.py" --dir "$work/bucardo" "${fast[@]}" --sleeps reduced --latency 100 \
      --catchup "$catchup" --sustained "${sustained##*,}" | tee -a "$out"
  fi
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$here/replication_table.py" "$out"
