# bench/servers.sh: sourced by the benchmark scripts. Starts and stops
# zonemesh-server, NSD, Knot and PowerDNS (gpgsql) on loopback ports, each
# in its own directory under $BENCH_DIR, each with 2 worker threads where the
# server lets us say so. Every function logs to stderr.
#
# Needs: apt-get install -y dnsperf knot nsd pdns-server pdns-backend-pgsql pdns-tools

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${ZONEMESH_BUILD_DIR:-$REPO/build}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
# A zone loaded in one transaction takes one advisory lock per owner name
# (zonemesh.validate_records): the default lock table (64 per connection)
# overflows at ~13k names, so the benchmark clusters get a bigger one.
BENCH_MAX_LOCKS=${BENCH_MAX_LOCKS:-8192}

log() { echo "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

free_port() {
  python3 - <<'EOF'
import socket
for _ in range(100):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", p)); u.close()
        print(p); break
    except OSError:
        pass
EOF
}

json_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['sites'][0][sys.argv[2]])" "$1" "$2"; }

# wait_answer PORT NAME TYPE [TIMEOUT_S]: until the server answers NAME/TYPE with NOERROR and data
wait_answer() {
  local port=$1 name=$2 type=$3 timeout=${4:-600} t0=$SECONDS
  while (( SECONDS - t0 < timeout )); do
    if dig +norec +short +tries=1 +time=1 @127.0.0.1 -p "$port" "$name" "$type" 2>/dev/null \
        | grep -q .; then return 0; fi
    sleep 0.05
  done
  return 1
}

# a process and all its descendants
pid_tree() {
  local p=$1 c
  echo "$p"
  for c in $(pgrep -P "$p"); do pid_tree "$c"; done
}

vmrss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

pg_bench_tune() {  # DIR of a scripts/cluster site (pgdata under it), CONNINFO
  psql -X -q "$2" -c "ALTER SYSTEM SET max_locks_per_transaction = $BENCH_MAX_LOCKS" >/dev/null
  runuser -u postgres -- "$PGBIN/pg_ctl" restart -w -m fast -D "$1/pgdata" -l "$1/postgres.log" >/dev/null
}

# ---- zonemesh ---------------------------------------------------------------
# zonemesh_up DIR SQLFILE: 1-site cluster, zone loaded with psql in one transaction.
# Sets ZM_PG ZM_DNS ZM_HTTP ZM_PID ZM_SITE ZM_LOAD_S (psql time) ZM_VISIBLE_S (commit -> last record answered)
zonemesh_up() {
  local dir=$1 sql=$2 last=$3 visible_timeout=${4:-900}
  "$REPO/scripts/cluster" up --sites 1 --dir "$dir" >"$dir.json" || die "cluster up failed"
  ZM_PG=$(json_field "$dir.json" pg); ZM_DNS=$(json_field "$dir.json" dns_port)
  ZM_HTTP=$(json_field "$dir.json" http_port); ZM_SITE=$(json_field "$dir.json" dir)
  ZM_PID=$(cat "$ZM_SITE/server.pid")
  pg_bench_tune "$ZM_SITE" "$ZM_PG"
  # the server reconnects by itself after the restart
  local t0 t1 t2; t0=$(date +%s.%N)
  psql -X -q "$ZM_PG" -f "$sql" >/dev/null || die "loading $sql into zonemesh failed"
  t1=$(date +%s.%N)
  ZM_LOAD_S=$(echo "$t1 - $t0" | bc)
  log "zonemesh: SQL load ${ZM_LOAD_S}s"
  if ! wait_answer "$ZM_DNS" "$last" A "$visible_timeout"; then
    ZM_VISIBLE_S="never (not within ${visible_timeout} s)"
    log "zonemesh: the running server did not answer $last within ${visible_timeout} s: $(grep -E 'error|warn' "$ZM_SITE/server.log" | tail -1)"
    [ "$visible_timeout" -ge 900 ] && die "zonemesh never answered $last"
    return 0
  fi
  t2=$(date +%s.%N)
  ZM_VISIBLE_S=$(echo "$t2 - $t1" | bc)
  log "zonemesh: DNS 127.0.0.1:$ZM_DNS pid $ZM_PID; SQL load ${ZM_LOAD_S}s, commit->last record answered ${ZM_VISIBLE_S}s"
}
zonemesh_down() { [ -f "$1/cluster.json" ] && "$REPO/scripts/cluster" down --dir "$1" --remove >/dev/null 2>&1; true; }

# ---- NSD --------------------------------------------------------------------
nsd_up() {  # DIR ZONEFILE ZONE [PORT]; sets NSD_PORT NSD_PID (the pidfile's: the server processes are its descendants)
  local dir=$1 zf=$2 zone=$3; NSD_PORT=${4:-$(free_port)}
  mkdir -p "$dir"
  cat >"$dir/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1@$NSD_PORT
  server-count: 2
  username: ""
  chroot: ""
  zonesdir: "$dir"
  database: ""
  pidfile: "$dir/nsd.pid"
  xfrdfile: "$dir/xfrd.state"
  zonelistfile: "$dir/zone.list"
  logfile: "$dir/nsd.log"
  hide-version: no
  # Debian's NSD has response rate limiting on (200 answers/s per /24): every
  # benchmark query comes from 127.0.0.1, so it must be off, as it is in Knot
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
  # only the additional data that is needed (NSD 4.6 still puts the apex NS
  # RRset in the authority section of positive answers; Knot and zonemesh do not)
  minimal-responses: yes
remote-control:
  control-enable: no
zone:
  name: $zone
  zonefile: "$zf"
EOF
  # daemon mode: with -d NSD 4.6 runs one server process instead of server-count
  nsd -c "$dir/nsd.conf" >>"$dir/nsd.out" 2>&1 || die "nsd failed to start: $(tail -3 "$dir/nsd.log")"
  local i; for i in $(seq 100); do [ -s "$dir/nsd.pid" ] && break; sleep 0.05; done
  NSD_PID=$(cat "$dir/nsd.pid")
  log "nsd: 127.0.0.1:$NSD_PORT pid $NSD_PID"
}

# ---- Knot -------------------------------------------------------------------
knot_up() {  # DIR ZONEFILE ZONE [PORT]; sets KNOT_PORT KNOT_PID
  local dir=$1 zf=$2 zone=$3; KNOT_PORT=${4:-$(free_port)}
  mkdir -p "$dir/db"
  cat >"$dir/knot.conf" <<EOF
server:
  rundir: "$dir"
  pidfile: "$dir/knot.pid"
  listen: 127.0.0.1@$KNOT_PORT
  udp-workers: 2
  tcp-workers: 1
  background-workers: 1
database:
  storage: "$dir/db"
control:
  listen: "$dir/knot.sock"
log:
  - target: "$dir/knot.log"
    any: info
template:
  - id: default
    storage: "$dir"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: $zone
    file: "$zf"
EOF
  knotd -c "$dir/knot.conf" >>"$dir/knot.out" 2>&1 &
  KNOT_PID=$!
  log "knot: 127.0.0.1:$KNOT_PORT pid $KNOT_PID"
}

# ---- PowerDNS gpgsql --------------------------------------------------------
# pdns_db_up DIR ZONEFILE ZONE [PORT]: its own PostgreSQL (scripts/cluster --no-server),
# database pdns with the packaged schema, the zone from zone2sql loaded in one
# transaction, then `pdnsutil rectify-zone` (empty non-terminals and glue auth
# flags, which zone2sql leaves out). Writes DIR/pdns.conf: 2 receiver threads
# with 1 distributor (backend) thread each; caches at their defaults.
# Sets PDNS_SITE PDNS_PGPORT PDNS_PG PDNS_PORT.
pdns_db_up() {
  local dir=$1 zf=$2 zone=$3
  PDNS_PORT=${4:-$(free_port)}
  "$REPO/scripts/cluster" up --sites 1 --no-server --dir "$dir" >"$dir.json" || die "pdns cluster up failed"
  PDNS_SITE=$(json_field "$dir.json" dir); PDNS_PGPORT=$(json_field "$dir.json" pg_port)
  PDNS_PG="host=$PDNS_SITE port=$PDNS_PGPORT dbname=pdns user=postgres"
  psql -X -q "host=$PDNS_SITE port=$PDNS_PGPORT dbname=postgres user=postgres" -c "CREATE DATABASE pdns" >/dev/null
  local schema=/usr/share/pdns-backend-pgsql/schema/schema.pgsql.sql
  [ -f "$schema" ] || schema=/usr/share/doc/pdns-backend-pgsql/schema.pgsql.sql
  psql -X -q -v ON_ERROR_STOP=1 "$PDNS_PG" -f "$schema" >/dev/null || die "pdns schema failed"
  zone2sql --gpgsql --zone="$zf" --zone-name="$zone" >"$dir/zone.sql" 2>"$dir/zone2sql.log" || die "zone2sql failed"
  psql -X -q -v ON_ERROR_STOP=1 -1 "$PDNS_PG" -f "$dir/zone.sql" >/dev/null || die "loading pdns zone failed"
  mkdir -p "$dir/run"
  cat >"$dir/pdns.conf" <<EOF
launch=gpgsql
gpgsql-host=$PDNS_SITE
gpgsql-port=$PDNS_PGPORT
gpgsql-dbname=pdns
gpgsql-user=postgres
gpgsql-dnssec=no
local-address=127.0.0.1
local-port=$PDNS_PORT
receiver-threads=2
distributor-threads=1
reuseport=yes
daemon=no
guardian=no
socket-dir=$dir/run
webserver=no
loglevel=4
EOF
  pdnsutil --config-dir="$dir" rectify-zone "$zone" >"$dir/rectify.log" 2>&1 || die "pdnsutil rectify-zone failed"
  psql -X -q "$PDNS_PG" -c "ANALYZE" >/dev/null
}
pdns_up() {  # DIR (after pdns_db_up); sets PDNS_PID
  local dir=$1
  pdns_server --config-dir="$dir" >>"$dir/pdns.out" 2>&1 &
  PDNS_PID=$!
  log "pdns: 127.0.0.1:$PDNS_PORT pid $PDNS_PID (gpgsql on $PDNS_SITE)"
}
pdns_db_down() { [ -f "$1/cluster.json" ] && "$REPO/scripts/cluster" down --dir "$1" --remove >/dev/null 2>&1; true; }

stop_pid() {  # PID: SIGTERM, wait, SIGKILL
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null; true
}
