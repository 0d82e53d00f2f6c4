#!/usr/bin/env bash
# bench/load_memory.sh: start-up load time and resident memory with a 1M-record zone.
#
#   bench/load_memory.sh [--names N] [--runs R] [--work DIR]
#
# Generates a zone of about 1M records (--names 562760 by default; gen_zone.py
# makes ~1.777 records per name), loads it into a 1-site zonemesh cluster (psql,
# one transaction), then R times:
#   - zonemesh: stops zonemesh-server, starts it again on the database that
#     already holds the zone, and times process start -> first correct answer
#     for the zone's last host record;
#   - Knot and NSD: start on the same zone file, same measurement.
# After each load: VmRSS and VmHWM of the serving process (NSD: of every
# process in its tree, plus their summed PSS, since its children share the
# parent's pages), sampled 2 s after the first answer.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/servers.sh"

NAMES=562760; RUNS=2; WORK=/tmp/zonemesh-bench-load
while [ $# -gt 0 ]; do
  case $1 in
    --names) NAMES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
done
ZM_RUN_PID=""
cleanup() { stop_pid "$ZM_RUN_PID"; stop_pid "${NSD_PID:-}"; stop_pid "${KNOT_PID:-}"; zonemesh_down "$WORK/zm"; }
[ -e "$WORK/zm/cluster.json" ] && zonemesh_down "$WORK/zm"
rm -rf "$WORK"; mkdir -p "$WORK"
trap cleanup EXIT

python3 "$HERE/gen_zone.py" --names "$NAMES" --out "$WORK/data" --sql --queries 1000 2>"$WORK/meta.log"
ZONE=bench.test; ZF=$WORK/data/$ZONE.zone
LAST=$(python3 -c "import json; print(json.load(open('$WORK/data/meta.json'))['last_record'])")
RECORDS=$(python3 -c "import json; print(json.load(open('$WORK/data/meta.json'))['records'])")
EXPECT=$(awk -v n="$LAST." '$1 == n && $4 == "A" {print $5; exit}' "$ZF")
log "zone: $NAMES names, $RECORDS records; last record $LAST A $EXPECT; zone file $(du -h "$ZF" | cut -f1)"

now() { date +%s.%N; }
# wait until PORT answers LAST A with EXPECT; print seconds since T0
answered_after() {
  local port=$1 t0=$2 pid=$3
  while true; do
    if [ "$(dig +norec +short +tries=1 +time=1 @127.0.0.1 -p "$port" "$LAST" A 2>/dev/null)" = "$EXPECT" ]; then
      echo "$(now) - $t0" | bc; return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "process $pid died while loading"
    sleep 0.02
  done
}
mem_of() {  # PIDs...: "rss_mb hwm_mb pss_mb" summed
  local rss=0 hwm=0 pss=0 p
  for p in "$@"; do
    rss=$((rss + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status")))
    hwm=$((hwm + $(awk '/^VmHWM/ {print $2}' "/proc/$p/status")))
    pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
  done
  echo "$((rss / 1024)) $((hwm / 1024)) $((pss / 1024))"
}

RESULTS=$WORK/results.txt
: >"$RESULTS"
# the running server gets 120 s to pick the bulk COMMIT up; the restarts below are the measurement
zonemesh_up "$WORK/zm" "$WORK/data/$ZONE.sql" "$LAST" 120
echo "zonemesh initial load: psql ${ZM_LOAD_S} s (1 transaction), commit -> last record answered by the running server: ${ZM_VISIBLE_S} s" | tee -a "$RESULTS"
grep -E "\[(error|warning)\]" "$ZM_SITE/server.log" | tail -2 | cut -c1-300 | sed 's/^/  server log: /' | tee -a "$RESULTS"
ZM_RUN_PID=$ZM_PID
mem=$(mem_of "$ZM_PID")
echo "zonemesh after the incremental load (rss hwm pss MiB): $mem" | tee -a "$RESULTS"

for r in $(seq "$RUNS"); do
  # zonemesh: restart on the database that holds the zone
  stop_pid "$ZM_RUN_PID"
  sync; sleep 1
  t0=$(now)
  "$BUILD/server/zonemesh-server" --config "$ZM_SITE/server.conf" >>"$ZM_SITE/server.log" 2>&1 &
  ZM_RUN_PID=$!
  echo "$ZM_RUN_PID" >"$ZM_SITE/server.pid"
  t=$(answered_after "$ZM_DNS" "$t0" "$ZM_RUN_PID"); sleep 2
  echo "run $r zonemesh: start -> answer ${t} s; rss hwm pss MiB: $(mem_of "$ZM_RUN_PID")" | tee -a "$RESULTS"

  # Knot
  rm -rf "$WORK/knot"
  KPORT=$(free_port); t0=$(now)
  knot_up "$WORK/knot" "$ZF" "$ZONE" "$KPORT"
  t=$(answered_after "$KPORT" "$t0" "$KNOT_PID"); sleep 2
  echo "run $r knot: start -> answer ${t} s; rss hwm pss MiB: $(mem_of "$KNOT_PID")" | tee -a "$RESULTS"
  stop_pid "$KNOT_PID"; KNOT_PID=""

  # NSD (daemon: the pidfile's process, xfrd, main and 2 server children)
  rm -rf "$WORK/nsd"
  NPORT=$(free_port); t0=$(now)
  nsd_up "$WORK/nsd" "$ZF" "$ZONE" "$NPORT"
  t=$(answered_after "$NPORT" "$t0" "$NSD_PID"); sleep 2
  # shellcheck disable=SC2046
  tree=$(pid_tree "$NSD_PID" | tr '\n' ' ')
  per=""; for p in $tree; do per="$per $(awk '/^VmRSS/ {printf "%d", $2/1024}' "/proc/$p/status")"; done
  # shellcheck disable=SC2086
  echo "run $r nsd: start -> answer ${t} s; rss hwm pss MiB (sum of $(echo $tree | wc -w) processes): $(mem_of $tree); per-process rss MiB:$per" | tee -a "$RESULTS"
  stop_pid "$NSD_PID"; NSD_PID=""
done
echo "load average at end: $(cat /proc/loadavg)" | tee -a "$RESULTS"
