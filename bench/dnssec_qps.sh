#!/usr/bin/env bash
# bench/dnssec_qps.sh: signed-zone QPS with DO=1, zonemesh vs Knot, one run.
#
#   bench/dnssec_qps.sh [--names N] [--duration S] [--rounds R] [--work DIR] [--nsec3] [--keep]
#
# Generates the zone and query file (bench/gen_zone.py), then serves the same
# zone signed by both servers, each with 2 UDP workers on its own loopback port:
#   - zonemesh: scripts/cluster (1 site), the zone loaded with psql in one
#     transaction, then `zonemesh-admin dnssec enable` (KSK + ZSK, ECDSA P-256;
#     with --nsec3, NSEC3 "1 0 0 -"): the server signs online.
#   - Knot: automatic signing (dnssec-signing: on, a policy with ECDSA P-256
#     KSK + ZSK; with --nsec3, nsec3: on, 0 iterations, no salt).
# Both are checked to answer with RRSIGs and to pass `kzonecheck -d on` on an
# AXFR. Each is warmed up by one pass over the query file (zonemesh signs on
# first use and caches; Knot signs the whole zone at load), then rounds
# alternate between the servers (R rounds each):
#   dnsperf -D -l DURATION -c 8 -q 128      (-D: the DO bit, EDNS0)
# Then 5 signed edits at zonemesh: the time from an INSERT's COMMIT to its
# signed answer over DNS.
# Prints a markdown table (also WORK/dnssec_qps.md): best and per-round QPS,
# lost queries, average latency, each server's CPU seconds (user+sys, from
# /proc) per round, the load average around each round, and the ratio
# zonemesh/Knot of QPS and of queries per CPU second.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/servers.sh"

NAMES=100000; DURATION=20; ROUNDS=3; WORK=/tmp/zonemesh-bench-dnssec; NSEC3=0; KEEP=0
CLIENTS=8; OUTSTANDING=128
while [ $# -gt 0 ]; do
  case $1 in
    --names) NAMES=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --nsec3) NSEC3=1; shift ;;
    --keep) KEEP=1; shift ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
done
for t in dnsperf knotd kdig kzonecheck dig bc; do
  command -v $t >/dev/null || die "$t missing: apt-get install -y dnsperf knot knot-dnsutils knot-dnssecutils dnsutils bc"
done
[ -x "$BUILD/server/zonemesh-server" ] || die "build first: scripts/build"
ADMIN=$BUILD/server/zonemesh-admin

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

# ---- zonemesh, signed online -------------------------------------------------
zonemesh_up "$WORK/zm" "$WORK/data/$ZONE.sql" "$LAST"
psql -X -q "$ZM_PG" -c "INSERT INTO zone_metadata (zone, kind, content) VALUES ('$ZONE', 'ALLOW-AXFR-FROM', '127.0.0.1')" >/dev/null
enable_args=(dnssec enable "$ZONE" --db "$ZM_PG")
[ "$NSEC3" = 1 ] && enable_args+=(--nsec3 "1 0 0 -")
"$ADMIN" "${enable_args[@]}" >"$WORK/zm-enable.txt" || die "dnssec enable failed"
t0=$(date +%s.%N)
signed_answer() {  # PORT: an RRSIG comes with the last record's answer (DO=1)
  kdig +dnssec +norec +retry=0 +timeout=1 @127.0.0.1 -p "$1" "$LAST" A 2>/dev/null | grep -q "RRSIG"
}
# The whole zone is signed before the signed version is served: on a busy
# 2-core machine that takes a while for 100k names.
for i in $(seq 1800); do signed_answer "$ZM_DNS" && break; sleep 1; done
signed_answer "$ZM_DNS" || die "zonemesh does not answer $LAST with an RRSIG after 30 min: $(grep -iE 'dnssec|sign' "$ZM_SITE/server.log" | tail -3)"
log "zonemesh: signed answers $(echo "$(date +%s.%N) - $t0" | bc) s after dnssec enable"

# ---- Knot, automatic signing -------------------------------------------------
KD=$WORK/knot; mkdir -p "$KD/db" "$KD/keys"
KNOT_PORT=$(free_port)
nsec3_conf="nsec3: off"
[ "$NSEC3" = 1 ] && nsec3_conf=$'nsec3: on\n    nsec3-iterations: 0\n    nsec3-salt-length: 0'
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
acl:
  - id: local_xfr
    address: 127.0.0.1
    action: transfer
policy:
  - id: bench
    algorithm: ecdsap256sha256
    single-type-signing: off
    $nsec3_conf
template:
  - id: default
    storage: "$KD"
    kasp-db: "$KD/keys"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: $ZONE
    file: "$ZF"
    dnssec-signing: on
    dnssec-policy: bench
    acl: local_xfr
EOF
t0=$(date +%s.%N)
knotd -c "$KD/knot.conf" >>"$KD/knot.out" 2>&1 &
KNOT_PID=$!
for i in $(seq 1800); do signed_answer "$KNOT_PORT" && break; sleep 1; done
signed_answer "$KNOT_PORT" || die "knot does not answer $LAST with an RRSIG: $(tail -3 "$KD/knot.log")"
log "knot: 127.0.0.1:$KNOT_PORT pid $KNOT_PID; signed answers $(echo "$(date +%s.%N) - $t0" | bc) s after start"

# ---- both signed zones verify --------------------------------------------------
declare -A PORT=([zonemesh]=$ZM_DNS [knot]=$KNOT_PORT)
declare -A PID=([zonemesh]=$ZM_PID [knot]=$KNOT_PID)
SERVERS=(zonemesh knot)
for s in "${SERVERS[@]}"; do
  kdig @127.0.0.1 -p "${PORT[$s]}" "$ZONE" AXFR +nocomments +nostats 2>/dev/null >"$WORK/axfr-$s.zone" || true
  if kzonecheck -o "$ZONE" -d on "$WORK/axfr-$s.zone" >"$WORK/kzonecheck-$s.txt" 2>&1; then
    log "$s: AXFR ($(awk '$4 == "RRSIG"' "$WORK/axfr-$s.zone" | wc -l) RRSIGs) passes kzonecheck -d on"
  else
    log "WARNING: $s: AXFR fails kzonecheck -d on: $(head -3 "$WORK/kzonecheck-$s.txt")"
  fi
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

log "warm-up: one pass over the query file with DO=1, each server"
for s in "${SERVERS[@]}"; do
  c0=$(cpu_s "${PID[$s]}"); w0=$(date +%s.%N)
  dnsperf -D -s 127.0.0.1 -p "${PORT[$s]}" -d "$Q" -n 1 -c $CLIENTS -q $OUTSTANDING >"$WORK/warm-$s.txt" 2>&1 || true
  c1=$(cpu_s "${PID[$s]}")
  read -r qps lost sent avg < <(parse "$WORK/warm-$s.txt")
  log "warm-up $s: $sent queries, $qps qps, lost $lost, server CPU $(echo "$c1 - $c0" | bc) s, $(echo "$(date +%s.%N) - $w0" | bc) s"
done

CMD="dnsperf -D -s 127.0.0.1 -p PORT -d queries.txt -l $DURATION -c $CLIENTS -q $OUTSTANDING"
declare -A BEST ROUNDQ CPUS QPC LOSTS LOADS BESTAVG
for r in $(seq "$ROUNDS"); do
  for s in "${SERVERS[@]}"; do
    out=$WORK/max-$s-$r.txt
    c0=$(cpu_s "${PID[$s]}"); l0=$(cut -d' ' -f1 /proc/loadavg)
    dnsperf -D -s 127.0.0.1 -p "${PORT[$s]}" -d "$Q" -l "$DURATION" -c $CLIENTS -q $OUTSTANDING >"$out" 2>&1 || true
    c1=$(cpu_s "${PID[$s]}"); l1=$(cut -d' ' -f1 /proc/loadavg)
    read -r qps lost sent avg < <(parse "$out")
    cpu=$(echo "$c1 - $c0" | bc)
    per_cpu=$(echo "if ($cpu > 0) $sent / $cpu else 0" | bc)
    ROUNDQ[$s]="${ROUNDQ[$s]:-}${ROUNDQ[$s]:+/}$qps"
    CPUS[$s]="${CPUS[$s]:-}${CPUS[$s]:+/}$cpu"
    QPC[$s]="${QPC[$s]:-}${QPC[$s]:+/}$per_cpu"
    LOSTS[$s]="${LOSTS[$s]:-}${LOSTS[$s]:+/}$lost"
    LOADS[$s]="${LOADS[$s]:-}${LOADS[$s]:+ }$l0->$l1"
    log "round $r $s: $qps qps, lost $lost of $sent, avg $avg ms, server CPU $cpu s ($per_cpu queries/CPU s), load $l0 -> $l1"
    if [ -z "${BEST[$s]:-}" ] || [ "$qps" -gt "${BEST[$s]}" ]; then BEST[$s]=$qps; BESTAVG[$s]=$avg; fi
  done
done

# A signed edit: from the COMMIT of an INSERT to the signed answer (DO=1, the
# new address with its RRSIG) over DNS, the zone of 100k names being signed.
log "signed edits: COMMIT -> signed answer, 5 times"
FRESH=""
for i in 1 2 3 4 5; do
  name="fresh$i.$ZONE"
  t0=$(date +%s.%N)
  psql -X -q "$ZM_PG" -c "INSERT INTO records (zone, name, type, ttl, content) VALUES ('$ZONE', '$name', 'A', 300, '192.0.2.$i')" >/dev/null
  t1=$(date +%s.%N)
  ok=0
  for j in $(seq 20000); do
    if kdig +dnssec +norec +retry=0 +timeout=1 @127.0.0.1 -p "$ZM_DNS" "$name" A 2>/dev/null \
        | awk -v n="$name." '$1 == n && $4 == "RRSIG" {f=1} END {exit !f}'; then ok=1; break; fi
  done
  t2=$(date +%s.%N)
  [ "$ok" = 1 ] || die "the signed answer for $name never came"
  ms=$(echo "($t2 - $t1) * 1000 / 1" | bc)
  FRESH="$FRESH${FRESH:+ }$ms"
  log "signed edit $i: COMMIT took $(echo "($t1 - $t0) * 1000 / 1" | bc) ms, then the signed answer after $ms ms"
  sleep 1
done

# answers with DO=1 carry signatures at both servers: the size of a typical answer
ans_size() { kdig +dnssec +norec @127.0.0.1 -p "$1" "$2" "$3" 2>/dev/null | awk '/MSG SIZE|Received/ {print $3; exit}'; }

best_qpc() { tr '/' '\n' <<<"${QPC[$1]}" | sort -g | tail -1; }
{
  echo "zone $ZONE: $NAMES names, $RECORDS records, signed with ECDSA P-256 KSK + ZSK, $([ "$NSEC3" = 1 ] && echo 'NSEC3 1 0 0 -' || echo NSEC); query file $(wc -l <"$Q") queries (hit 50%, NXDOMAIN 10%, NODATA 10%, wildcard 10%, referral 10%, CNAME 10%), all with DO=1"
  echo "command: $CMD (rounds alternate zonemesh, knot; $ROUNDS rounds each, after one warm-up pass each)"
  echo "www-like answer sizes with DO=1 (zonemesh/knot, bytes): $(ans_size "${PORT[zonemesh]}" "$LAST" A)/$(ans_size "${PORT[knot]}" "$LAST" A)"
  echo
  echo "| server | best QPS | QPS per round | lost per round | avg ms (best) | server CPU s per round | queries per CPU s per round | load avg before->after each round |"
  echo "| --- | ---: | --- | --- | ---: | --- | --- | --- |"
  for s in "${SERVERS[@]}"; do
    echo "| $s | ${BEST[$s]} | ${ROUNDQ[$s]} | ${LOSTS[$s]} | ${BESTAVG[$s]} | ${CPUS[$s]} | ${QPC[$s]} | ${LOADS[$s]} |"
  done
  echo
  echo "zonemesh/knot best QPS ratio: $(echo "scale=2; ${BEST[zonemesh]} / ${BEST[knot]}" | bc)"
  echo "zonemesh/knot best queries per CPU second ratio: $(echo "scale=2; $(best_qpc zonemesh) / $(best_qpc knot)" | bc)"
  echo "zonemesh signed edits, COMMIT returned -> signed answer over DNS (ms, 5 edits, polled with kdig): $FRESH"
  echo "load average at end: $(cat /proc/loadavg)"
} | tee "$WORK/dnssec_qps.md"
