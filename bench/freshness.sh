#!/usr/bin/env bash
# bench/freshness.sh: commit-to-DNS freshness, zonemesh vs PowerDNS gpgsql.
#
#   bench/freshness.sh [--names N] [--updates N] [--pdns-updates N] [--cap S] [--work DIR]
#
# Loads the same generated zone (bench/gen_zone.py, default 100k names) into a
# 1-site zonemesh cluster and into PowerDNS's own PostgreSQL, then runs
# bench/freshness.py: for zonemesh --updates (default 500) single-row UPDATEs of
# one A record, for PowerDNS --pdns-updates (default 8) with a cap (default
# 30 s), since with its default caches (cache-ttl 20, query-cache-ttl 20)
# PowerDNS keeps serving the old answer for up to ~20 s.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/servers.sh"

NAMES=100000; UPDATES=500; PDNS_UPDATES=8; CAP=30; WORK=/tmp/zonemesh-bench-fresh
while [ $# -gt 0 ]; do
  case $1 in
    --names) NAMES=$2; shift 2 ;;
    --updates) UPDATES=$2; shift 2 ;;
    --pdns-updates) PDNS_UPDATES=$2; shift 2 ;;
    --cap) CAP=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
done
cleanup() { stop_pid "${PDNS_PID:-}"; zonemesh_down "$WORK/zm"; pdns_db_down "$WORK/pdns"; }
[ -e "$WORK/zm/cluster.json" ] && zonemesh_down "$WORK/zm"
[ -e "$WORK/pdns/cluster.json" ] && pdns_db_down "$WORK/pdns"
rm -rf "$WORK"; mkdir -p "$WORK"
trap cleanup EXIT

python3 "$HERE/gen_zone.py" --names "$NAMES" --out "$WORK/data" --sql --queries 1000 2>"$WORK/meta.log"
ZONE=bench.test
LAST=$(python3 -c "import json; print(json.load(open('$WORK/data/meta.json'))['last_record'])")
NAME=$(python3 -c "import json; print(json.load(open('$WORK/data/meta.json'))['freshness_record'])")
zonemesh_up "$WORK/zm" "$WORK/data/$ZONE.sql" "$LAST"
pdns_db_up "$WORK/pdns" "$WORK/data/$ZONE.zone" "$ZONE"
pdns_up "$WORK/pdns"
wait_answer "$PDNS_PORT" "$LAST" A 120 || die "pdns does not answer"

log "load average before: $(cat /proc/loadavg)"
python3 "$HERE/freshness.py" --label zonemesh --pg "$ZM_PG" --port "$ZM_DNS" --name "$NAME" \
  --updates "$UPDATES" | tee "$WORK/zonemesh.txt"
log "load average: $(cat /proc/loadavg)"
python3 "$HERE/freshness.py" --label pdns-gpgsql --pg "$PDNS_PG" --port "$PDNS_PORT" --name "$NAME" \
  --updates "$PDNS_UPDATES" --cap "$CAP" --gap 0.5 | tee "$WORK/pdns.txt"
log "load average after: $(cat /proc/loadavg)"
