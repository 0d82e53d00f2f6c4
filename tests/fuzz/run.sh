#!/usr/bin/env bash
# Builds a libFuzzer target with clang (ASan + UBSan) and runs it for a while:
# "query" (the query parser and answer path, the default), "transfer"
# (TSIG, zone transfers, NOTIFY, UPDATE parsing), "cookie" (DNS cookies in
# queries) or "rdata" (RFC 3597 generic RDATA to text and back, zone text). The test command runs each
# briefly; run one longer by hand:  tests/fuzz/run.sh OUTDIR 3600 [TARGET]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$repo/build/fuzz}"
seconds="${2:-30}"
target="${3:-query}"
libs=(-lldns -lcrypto)
sources=("$repo"/tests/fuzz/${target}_fuzz.cpp "$repo"/lib/dns/*.cpp "$repo"/lib/store/*.cpp
         "$repo"/lib/zonefile/*.cpp "$repo"/lib/dnssec/*.cpp "$repo"/server/answer.cpp
         "$repo"/server/query_processor_impl.cpp)
if [ "$target" = rdata ]; then
  sources=("$repo"/tests/fuzz/rdata_fuzz.cpp "$repo"/lib/dns/*.cpp "$repo"/lib/store/*.cpp
           "$repo"/lib/zonefile/*.cpp "$repo"/lib/dnssec/*.cpp)
fi
if [ "$target" = rdata ] || [ "$target" = cookie ]; then
  out="$out/$target"
fi
if [ "$target" = transfer ]; then
  out="$out/transfer"
  sources+=("$repo"/server/tsig.cpp "$repo"/server/transfer_policy.cpp "$repo"/server/changelog_follow.cpp
            "$repo"/server/transfer_processor.cpp
            "$repo"/server/dns_update.cpp "$repo"/server/zone_history.cpp "$repo"/lib/common/metrics.cpp)
  libs+=(-lpqxx -lpq -lspdlog -lfmt)
fi
mkdir -p "$out/corpus"
bin="$out/${target}_fuzz"
if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" "$repo"/lib "$repo"/server -newer "$bin" -name '*.[ch]pp' | head -1)" ]; then
  echo "fuzz: building $bin" >&2
  clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$repo/lib" -I"$repo/server" -I"$repo/tests/fuzz" -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL "${sources[@]}" "${libs[@]}" -o "$bin"
fi
# Seeds: a few well-formed queries (www.example.com A, with and without EDNS;
# for the transfer target also an AXFR signed with the key "k." and an UPDATE).
printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01' \
  > "$out/corpus/seed-a"
printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x07example\x03com\x00\x00\xff\x00\x01\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x04\x00\x03\x00\x00' \
  > "$out/corpus/seed-any-edns-nsid"
# DO=1 into the signed zones (NSEC: example.com, NSEC3 opt-out: example.org).
printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x02nx\x07example\x03com\x00\x00\x01\x00\x01\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00' \
  > "$out/corpus/seed-nx-do"
printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x01x\x01w\x07example\x03org\x00\x00\x10\x00\x01\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00' \
  > "$out/corpus/seed-wild-nsec3-do"
if [ "$target" = cookie ]; then
  printf '\x00\x24\x64\xc4\xab\xcf\x10\xc9\x57' > "$out/corpus/seed-client-cookie"
  printf '\x00\x24\x64\xc4\xab\xcf\x10\xc9\x57\x01\x00\x00\x00\x5c\xf7\x9f\x11\x1f\x81\x30\xc3\xee\xe2\x94\x80' \
    > "$out/corpus/seed-server-cookie"
fi
if [ "$target" = rdata ]; then
  printf '\xff\xfe\x01\x02\x03' > "$out/corpus/seed-type65534"
  printf '\x00\x10\x03abc\x02de' > "$out/corpus/seed-txt"
  printf '$TTL 60\n@ SOA ns h 1 2 3 4 5\nx TYPE65534 \\# 3 010203\nt TXT "%0300d"\n' 0 > "$out/corpus/seed-zone"
fi
if [ "$target" = transfer ]; then
  /usr/bin/python3 - "$out/corpus" <<'PY'
import sys, dns.message, dns.tsigkeyring, dns.update
ring = dns.tsigkeyring.from_text({"k.": ("hmac-sha256", "c2VjcmV0")})
q = dns.message.make_query("example.com", "AXFR"); q.use_tsig(ring, keyname="k.")
open(sys.argv[1] + "/seed-axfr-tsig", "wb").write(q.to_wire())
q = dns.message.make_query("example.com", "IXFR"); open(sys.argv[1] + "/seed-ixfr", "wb").write(q.to_wire())
u = dns.update.UpdateMessage("example.com", keyring=ring, keyname="k.")
u.present("www.example.com", "TXT"); u.add("new.example.com", 60, "MX", "10 mail.example.com")
u.delete("www.example.com", "TXT")
open(sys.argv[1] + "/seed-update", "wb").write(u.to_wire())
PY
fi
extra=()
# ldns 1.8.3's zone reader leaks the half-built RR on some syntax errors
# (inside ldns_zone_new_frm_fp_l): not ours, so leaks are not reported there.
if [ "$target" = rdata ]; then
  extra+=(-detect_leaks=0)
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
exec "$bin" -max_len=1024 -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/" \
  "${extra[@]}" "$out/corpus"
