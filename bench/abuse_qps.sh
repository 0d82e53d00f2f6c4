#!/usr/bin/env bash
# bench/abuse_qps.sh: QPS with response rate limiting and DNS cookies on,
# zonemesh vs Knot, one run.
#
#   bench/abuse_qps.sh [--names N] [--duration S] [--rounds R] [--rrl-rate N] [--work DIR] [--keep]
#
# Generates the zone and query file (bench/gen_zone.py) and serves it from
# both servers, each with 2 UDP workers on its own loopback port:
#   - zonemesh: scripts/cluster (1 site), then restarted with
#     [rrl] enabled = yes and [cookies] on (the cluster's shared secret);
#   - Knot: mod-rrl and mod-cookies as global modules.
# The rate limit is set far above what one client can reach here (1,000,000
# responses/s, slip 2) so that every response goes through the limiter's
# accounting without being dropped: dnsperf runs from one address, and a
# limit it hit would measure dropped queries, not answers. Knot keeps a
# bucket's tokens in 16 bits, so its rate is capped at 65535 (its buckets
# are per prefix, class and name: none comes near it here). Knot gets the
# zonemesh cluster's cookie secret (both make RFC 9018 cookies), so one
# server cookie is valid at both. Two kinds of client, each in R rounds
# alternating between the servers:
#   plain:  dnsperf -l DURATION -c 8 -q 128            (RRL accounting on every answer)
#   cookie: dnsperf -E 10:CLIENT+SERVER_COOKIE ...      (a valid server cookie on every
#           query: checked with SipHash, echoed; exempt from RRL at both)
# Prints a markdown table (also WORK/abuse_qps.md): best and per-round QPS,
# lost queries, each server's CPU seconds per round (user+sys, /proc), the
# load average around each round and the ratios zonemesh/Knot.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/servers.sh"

NAMES=100000; DURATION=20; ROUNDS=3; WORK=/tmp/zonemesh-bench-abuse; KEEP=0
CLIENTS=8; OUTSTANDING=128; RRL_RATE=1000000; SLIP=2
CLIENT_COOKIE=2464c4abcf10c957
while [ $# -gt 0 ]; do
  case $1 in
    --names) NAMES=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --rrl-rate) RRL_RATE=$2; shift 2 ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
done
for t in dnsperf knotd kdig dig bc; do
  command -v $t >/dev/null || die "$t missing: apt-get install -y dnsperf knot knot-dnsutils dnsutils bc"
done
[ -x "$BUILD/server/zonemesh-server" ] || die "build first: scripts/build"

cleanup() {
  stop_pid "${KNOT_PID:-}"
  zonemesh_down "$WORK/zm"
  [ "$KEEP" = 1 ] || rm -rf "$WORK/knot"
}
[ -e "$WORK/zm/cluster.json" ] && zonemesh_down "$WORK/zm"
rm -rf "$WORK"; mkdir -p "$WORK"
trap cleanup EXIT

python3 "$HERE/gen_zone.py" --names "$NAMES" --out "$WORK/data" --sql 2>"$WORK/meta.log"
ZONE=bench.test; ZF=$WORK/data/$ZONE.zone; Q=$WORK/data/queries.txt
LAST=$(python3 -c "import json; print(json.load(open('$WORK/data/meta.json'))['last_record'])")
RECORDS=$(python3 -c "import json; print(json.load(open('$WORK/data/meta.json'))['records'])")
log "zone $ZONE: $NAMES names, $RECORDS records; $(wc -l <"$Q") queries"

# ---- zonemesh: RRL and cookies on ---------------------------------------------
zonemesh_up "$WORK/zm" "$WORK/data/$ZONE.sql" "$LAST"
"$REPO/scripts/cluster" stop --dir "$WORK/zm" --site site1 --process server
python3 - "$ZM_SITE/server.conf" "$RRL_RATE" "$SLIP" <<'PY'
import re, sys
path, rate, slip = sys.argv[1:]
text = open(path).read()
text = re.sub(r"\[rrl\]\n(?:[^\[]*\n)?",
              f"[rrl]\nenabled = yes\nresponses_per_second = {rate}\nslip = {slip}\n", text)
open(path, "w").write(text)
PY
"$REPO/scripts/cluster" start --dir "$WORK/zm" --site site1 --process server
ZM_PID=$(cat "$ZM_SITE/server.pid")
wait_answer "$ZM_DNS" "$LAST" A 600 || die "zonemesh does not answer $LAST after the restart"
grep -q "RRL on" "$ZM_SITE/server.log" || die "zonemesh did not turn RRL on: $(tail -3 "$ZM_SITE/server.log")"
log "zonemesh: 127.0.0.1:$ZM_DNS pid $ZM_PID, RRL $RRL_RATE/s slip $SLIP, cookies with the cluster's secret"

# ---- Knot: mod-rrl and mod-cookies ---------------------------------------------
KNOT_RRL_RATE=$(( RRL_RATE > 65535 ? 65535 : RRL_RATE ))
KD=$WORK/knot; mkdir -p "$KD/db"
KNOT_PORT=$(free_port)
cat >"$KD/knot.conf" <<EOF
server:
  rundir: "$KD"
  pidfile: "$KD/knot.pid"
  listen: 127.0.0.1@$KNOT_PORT
  udp-workers: 2
  tcp-workers: 1
  background-workers: 1
database:
  storage: "$KD/db"
log:
  - target: "$KD/knot.log"
    any: info
mod-rrl:
  - id: bench
    rate-limit: $KNOT_RRL_RATE
    slip: $SLIP
mod-cookies:
  - id: bench
    secret: 0x$(tr -d '\n' <"$WORK/zm/cookie-secret")
    badcookie-slip: 1
template:
  - id: default
    storage: "$KD"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    global-module: [ mod-cookies/bench, mod-rrl/bench ]
zone:
  - domain: $ZONE
    file: "$ZF"
EOF
knotd -c "$KD/knot.conf" >>"$KD/knot.out" 2>&1 &
KNOT_PID=$!
wait_answer "$KNOT_PORT" "$LAST" A 600 || die "knot does not answer $LAST: $(tail -3 "$KD/knot.log")"
log "knot: 127.0.0.1:$KNOT_PORT pid $KNOT_PID, mod-rrl $KNOT_RRL_RATE/s slip $SLIP, mod-cookies"

declare -A PORT=([zonemesh]=$ZM_DNS [knot]=$KNOT_PORT)
declare -A PID=([zonemesh]=$ZM_PID [knot]=$KNOT_PID)
SERVERS=(zonemesh knot)
cookie_at() {  # PORT [COOKIE]: the cookie option of the answer, and its verdict
  kdig +norec +cookie="${2:-$CLIENT_COOKIE}" @127.0.0.1 -p "$1" "$LAST" A 2>/dev/null \
    | awk '/COOKIE:/ {print tolower($3), $4; exit}'
}
read -r SERVER_COOKIE _ < <(cookie_at "$ZM_DNS")
[ "${#SERVER_COOKIE}" = 48 ] || die "zonemesh did not answer with a server cookie (got '$SERVER_COOKIE')"
for s in "${SERVERS[@]}"; do
  read -r got verdict < <(cookie_at "${PORT[$s]}" "$SERVER_COOKIE")
  [ "$got" = "$SERVER_COOKIE" ] || die "$s does not accept zonemesh's cookie $SERVER_COOKIE (answered '$got $verdict')"
  log "$s: accepts and echoes $SERVER_COOKIE $verdict"
done

cpu_s() {
  local p=$1
  [ -r "/proc/$p/stat" ] || { echo 0; return; }
  sed 's/^.*) //' "/proc/$p/stat" | awk '{ print ($12 + $13) / 100 }'
}
parse() {
  awk '/Queries sent:/ {sent=$3} /Queries lost:/ {lost=$3} /Queries per second:/ {qps=$4}
       /Average Latency/ {avg=$4*1000}
       END {printf "%.0f %d %d %.3f\n", qps, lost, sent, avg}' "$1"
}

declare -A CMD=([plain]="dnsperf -s 127.0.0.1 -d $Q -c $CLIENTS -q $OUTSTANDING"
                [cookie]="dnsperf -E 10:$SERVER_COOKIE -s 127.0.0.1 -d $Q -c $CLIENTS -q $OUTSTANDING")
VARIANTS=(plain cookie)
log "warm-up (3 s each)"
for s in "${SERVERS[@]}"; do ${CMD[plain]} -p "${PORT[$s]}" -l 3 >/dev/null 2>&1 || true; done

declare -A BEST ROUNDQ CPUS QPC LOSTS LOADS BESTQPC
for r in $(seq "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
    for s in "${SERVERS[@]}"; do
      k="$s/$v"; out=$WORK/max-$s-$v-$r.txt
      c0=$(cpu_s "${PID[$s]}"); l0=$(cut -d' ' -f1 /proc/loadavg)
      ${CMD[$v]} -p "${PORT[$s]}" -l "$DURATION" >"$out" 2>&1 || true
      c1=$(cpu_s "${PID[$s]}"); l1=$(cut -d' ' -f1 /proc/loadavg)
      read -r qps lost sent avg < <(parse "$out")
      cpu=$(echo "$c1 - $c0" | bc)
      per_cpu=$(echo "if ($cpu > 0) ($sent - $lost) / $cpu else 0" | bc)
      ROUNDQ[$k]="${ROUNDQ[$k]:-}${ROUNDQ[$k]:+ / }$qps"
      CPUS[$k]="${CPUS[$k]:-}${CPUS[$k]:+ / }$cpu"
      QPC[$k]="${QPC[$k]:-}${QPC[$k]:+ / }$per_cpu"
      LOSTS[$k]="${LOSTS[$k]:-}${LOSTS[$k]:+/}$lost"
      LOADS[$k]="${LOADS[$k]:-}${LOADS[$k]:+, }$l0->$l1"
      log "round $r $v $s: $qps qps, lost $lost of $sent, avg $avg ms, server CPU $cpu s ($per_cpu answers/CPU s), load $l0 -> $l1"
      if [ -z "${BEST[$k]:-}" ] || [ "$qps" -gt "${BEST[$k]}" ]; then BEST[$k]=$qps; fi
      if [ -z "${BESTQPC[$k]:-}" ] || [ "$per_cpu" -gt "${BESTQPC[$k]}" ]; then BESTQPC[$k]=$per_cpu; fi
    done
  done
done
knot_limited=$(grep -c "enters limiting" "$KD/knot.log" || true)
zm_dropped=$(curl -s "http://127.0.0.1:$ZM_HTTP/metrics" | awk '/^zonemesh_rrl_(dropped|slipped)_total/ {s += $2} END {print s + 0}')

{
  echo "zone $ZONE: $NAMES names, $RECORDS records; query file $(wc -l <"$Q") queries"
  echo "RRL on at both (zonemesh $RRL_RATE, Knot $KNOT_RRL_RATE responses/s, slip $SLIP: accounted, never reached), cookies on at both (one secret)"
  echo "plain:  ${CMD[plain]} -p PORT -l $DURATION"
  echo "cookie: ${CMD[cookie]} -p PORT -l $DURATION"
  echo "(rounds alternate between the servers, $ROUNDS each)"
  echo
  echo "| server | client | best QPS | QPS per round | lost | server CPU s per round | answers per CPU s per round | load before->after each round |"
  echo "| --- | --- | ---: | --- | --- | --- | --- | --- |"
  for v in "${VARIANTS[@]}"; do
    for s in "${SERVERS[@]}"; do
      k="$s/$v"
      echo "| $s | $v | ${BEST[$k]} | ${ROUNDQ[$k]} | ${LOSTS[$k]} | ${CPUS[$k]} | ${QPC[$k]} | ${LOADS[$k]} |"
    done
  done
  echo
  for v in "${VARIANTS[@]}"; do
    echo "$v: zonemesh/knot best QPS $(echo "scale=2; ${BEST[zonemesh/$v]} / ${BEST[knot/$v]}" | bc), best answers per CPU second $(echo "scale=2; ${BESTQPC[zonemesh/$v]} / ${BESTQPC[knot/$v]}" | bc)"
  done
  echo "zonemesh responses rate limited during the run: $zm_dropped; Knot 'enters limiting' log lines: $knot_limited"
  echo "load average at end: $(cat /proc/loadavg)"
} | tee "$WORK/abuse_qps.md"
