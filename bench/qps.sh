#!/usr/bin/env bash
# bench/qps.sh: one zone, four servers, one run.
#
#   bench/qps.sh [--names N] [--duration S] [--rate QPS] [--rounds R] [--work DIR] [--perf] [--keep]
#
# Generates the zone and query file (bench/gen_zone.py), then serves the same
# zone from zonemesh-server (scripts/cluster, 1 site, zone loaded into its
# database with psql in one transaction), NSD, Knot and PowerDNS (gpgsql on
# its own PostgreSQL), each on its own loopback port with 2 worker threads.
# Spot-checks every server's answers (bench/check_answers.py), warms each up
# for 3 s, then per server:
#   - max throughput: dnsperf -l DURATION -c 8 -q 128 (R rounds, servers interleaved; best round reported)
#   - fixed rate:     dnsperf -l DURATION -Q RATE -v (latency p50/p99 from the per-query lines)
# Prints a markdown table (also WORK/qps.md) with QPS, lost, latency, the
# server's CPU time during the run, and the ratios zonemesh/Knot, zonemesh/NSD.
# --perf records `perf record -g` of zonemesh during one extra max-throughput run
# (WORK/perf.data, report in WORK/perf.txt).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/servers.sh"

NAMES=100000; DURATION=20; RATE=10000; ROUNDS=2; WORK=/tmp/zonemesh-bench-qps; PERF=0; KEEP=0
CLIENTS=8; OUTSTANDING=128
while [ $# -gt 0 ]; do
  case $1 in
    --names) NAMES=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --perf) PERF=1; shift ;;
    --keep) KEEP=1; shift ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
done
for t in dnsperf nsd knotd pdns_server zone2sql pdnsutil dig bc; do
  command -v $t >/dev/null || die "$t missing: apt-get install -y dnsperf knot nsd pdns-server pdns-backend-pgsql pdns-tools dnsutils bc"
done
[ -x "$BUILD/server/zonemesh-server" ] || die "build first: cmake --build build -j2"

cleanup() {
  stop_pid "${NSD_PID:-}"; stop_pid "${KNOT_PID:-}"; stop_pid "${PDNS_PID:-}"
  zonemesh_down "$WORK/zm"; pdns_db_down "$WORK/pdns"
  [ "$KEEP" = 1 ] || rm -rf "$WORK/nsd" "$WORK/knot"
}
[ -e "$WORK/zm/cluster.json" ] && zonemesh_down "$WORK/zm"
[ -e "$WORK/pdns/cluster.json" ] && pdns_db_down "$WORK/pdns"
rm -rf "$WORK"; mkdir -p "$WORK"
trap cleanup EXIT

python3 "$HERE/gen_zone.py" --names "$NAMES" --out "$WORK/data" --sql 2>"$WORK/meta.log"
ZONE=bench.test; ZF=$WORK/data/$ZONE.zone; Q=$WORK/data/queries.txt
LAST=$(python3 -c "import json; print(json.load(open('$WORK/data/meta.json'))['last_record'])")
RECORDS=$(python3 -c "import json; print(json.load(open('$WORK/data/meta.json'))['records'])")
log "zone $ZONE: $NAMES names, $RECORDS records; $(wc -l <"$Q") queries"

zonemesh_up "$WORK/zm" "$WORK/data/$ZONE.sql" "$LAST"
nsd_up "$WORK/nsd" "$ZF" "$ZONE"
knot_up "$WORK/knot" "$ZF" "$ZONE"
pdns_db_up "$WORK/pdns" "$ZF" "$ZONE"
pdns_up "$WORK/pdns"
declare -A PORT=([zonemesh]=$ZM_DNS [nsd]=$NSD_PORT [knot]=$KNOT_PORT [pdns]=$PDNS_PORT)
declare -A PID=([zonemesh]=$ZM_PID [nsd]=$NSD_PID [knot]=$KNOT_PID [pdns]=$PDNS_PID)
SERVERS=(zonemesh nsd knot pdns)
for s in "${SERVERS[@]}"; do
  wait_answer "${PORT[$s]}" "$LAST" A 120 || die "$s does not answer $LAST"
done

log "spot checks"
python3 "$HERE/check_answers.py" "$WORK/data/checks.txt" \
  zonemesh="${PORT[zonemesh]}" nsd="${PORT[nsd]}" knot="${PORT[knot]}" pdns="${PORT[pdns]}" \
  | tee "$WORK/checks.txt" >&2 || log "WARNING: spot checks failed (see above); measuring anyway"

# CPU seconds (user+system) of a process and all its threads/children we know of
cpu_s() {
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    # fields after "(comm)", which may hold spaces ("nsd: server 1"): utime and stime are 12 and 13
    total=$(sed 's/^.*) //' "/proc/$p/stat" | awk -v t="$total" '{ print t + ($12 + $13) / 100 }')
  done
  echo "$total"
}
# NSD forks its server processes: count every descendant (their CPU is in their own stat)
cpu_tree_s() {
  # shellcheck disable=SC2046
  cpu_s $(pid_tree "${PID[$1]}")
}

# parse dnsperf statistics into "qps lost sent avg_ms"
parse() {
  awk '/Queries sent:/ {sent=$3} /Queries lost:/ {lost=$3} /Queries per second:/ {qps=$4}
       /Average Latency/ {avg=$4*1000}
       END {printf "%.0f %d %d %.3f\n", qps, lost, sent, avg}' "$1"
}

log "warm-up (3 s each)"
for s in "${SERVERS[@]}"; do
  dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$Q" -l 3 -c $CLIENTS -q $OUTSTANDING >/dev/null 2>&1 || true
done

declare -A BEST BESTLINE CPU ROUNDQ
for r in $(seq "$ROUNDS"); do
  for s in "${SERVERS[@]}"; do
    out=$WORK/max-$s-$r.txt
    cmd="dnsperf -s 127.0.0.1 -p ${PORT[$s]} -d $Q -l $DURATION -c $CLIENTS -q $OUTSTANDING"
    echo "$cmd" >"$WORK/max-$s.cmd"
    c0=$(cpu_tree_s "$s"); l0=$(cut -d' ' -f1 /proc/loadavg)
    $cmd >"$out" 2>&1 || true
    c1=$(cpu_tree_s "$s"); l1=$(cut -d' ' -f1 /proc/loadavg)
    read -r qps lost sent avg < <(parse "$out")
    ROUNDQ[$s]="${ROUNDQ[$s]:-}${ROUNDQ[$s]:+/}$qps"
    log "round $r $s: $qps qps, lost $lost of $sent, avg ${avg} ms, server CPU $(echo "$c1 - $c0" | bc) s, load $l0 -> $l1"
    if [ -z "${BEST[$s]:-}" ] || [ "$qps" -gt "${BEST[$s]}" ]; then
      BEST[$s]=$qps; BESTLINE[$s]="$qps $lost $sent $avg"; CPU[$s]=$(echo "$c1 - $c0" | bc)
    fi
  done
done

declare -A FIX
for s in "${SERVERS[@]}"; do
  out=$WORK/rate-$s.txt
  dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$Q" -l "$DURATION" -c $CLIENTS -q 1000 -Q "$RATE" -v >"$out" 2>&1 || true
  read -r qps lost sent avg < <(parse "$out")
  read -r p50 p99 p999 < <(awk '/^> / {print $NF * 1000}' "$out" | sort -g | awk '{v[NR]=$1}
     END {printf "%.3f %.3f %.3f\n", v[int(NR*0.50)], v[int(NR*0.99)], v[int(NR*0.999)]}')
  FIX[$s]="$qps $lost $sent $avg $p50 $p99 $p999"
  log "fixed rate $s: $qps qps, lost $lost, avg $avg ms, p50 $p50 p99 $p99 p99.9 $p999 ms"
done

if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
  log "perf record of zonemesh-server during a ${DURATION}s max-throughput run"
  perf record -g -F 999 -p "$ZM_PID" -o "$WORK/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
  ppid=$!
  dnsperf -s 127.0.0.1 -p "$ZM_DNS" -d "$Q" -l "$DURATION" -c $CLIENTS -q $OUTSTANDING >"$WORK/max-zonemesh-perf.txt" 2>&1
  wait $ppid || true
  perf report -i "$WORK/perf.data" --no-children --percent-limit 0.8 --stdio 2>/dev/null | grep -v '^$' | head -150 >"$WORK/perf.txt" || true
  perf report -i "$WORK/perf.data" --no-children --sort dso,sym --percent-limit 0.5 --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -60 >"$WORK/perf-flat.txt" || true
fi

{
  echo "zone $ZONE: $NAMES names, $RECORDS records; query file $(wc -l <"$Q") queries (hit 50%, NXDOMAIN 10%, NODATA 10%, wildcard 10%, referral 10%, CNAME 10%)"
  echo "max throughput: dnsperf -s 127.0.0.1 -p PORT -d queries.txt -l $DURATION -c $CLIENTS -q $OUTSTANDING (best of $ROUNDS rounds, servers interleaved)"
  echo "fixed rate:     dnsperf -s 127.0.0.1 -p PORT -d queries.txt -l $DURATION -c $CLIENTS -q 1000 -Q $RATE -v"
  echo
  echo "| server | max QPS (rounds) | lost | avg ms | server CPU s / ${DURATION}s | @${RATE} qps: lost | avg ms | p50 ms | p99 ms | p99.9 ms |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for s in "${SERVERS[@]}"; do
    read -r qps lost sent avg <<<"${BESTLINE[$s]}"
    read -r fq flost fsent favg p50 p99 p999 <<<"${FIX[$s]}"
    echo "| $s | $qps (${ROUNDQ[$s]}) | $lost/$sent | $avg | ${CPU[$s]} | $flost/$fsent | $favg | $p50 | $p99 | $p999 |"
  done
  echo
  echo "zonemesh/knot QPS ratio: $(echo "scale=2; ${BEST[zonemesh]} / ${BEST[knot]}" | bc)"
  echo "zonemesh/nsd  QPS ratio: $(echo "scale=2; ${BEST[zonemesh]} / ${BEST[nsd]}" | bc)"
  echo "zonemesh/pdns QPS ratio: $(echo "scale=2; ${BEST[zonemesh]} / ${BEST[pdns]}" | bc)"
  echo "zonemesh load: psql ${ZM_LOAD_S}s, commit -> last record answered ${ZM_VISIBLE_S}s"
  echo "load average at end: $(cat /proc/loadavg)"
} | tee "$WORK/qps.md"
