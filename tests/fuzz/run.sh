#!/usr/bin/env bash
# Builds the libFuzzer target for the query parser and answer path with clang
# (ASan + UBSan) and runs it for a while. The test command runs it briefly;
# run it longer by hand:  tests/fuzz/run.sh OUTDIR 3600
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$repo/build/fuzz}"
seconds="${2:-30}"
mkdir -p "$out/corpus"
bin="$out/query_fuzz"
sources=("$repo"/tests/fuzz/query_fuzz.cpp "$repo"/lib/dns/*.cpp "$repo"/lib/store/*.cpp
         "$repo"/lib/zonefile/*.cpp "$repo"/server/answer.cpp "$repo"/server/query_processor_impl.cpp)
if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" "$repo"/lib "$repo"/server -newer "$bin" -name '*.[ch]pp' | head -1)" ]; then
  echo "fuzz: building $bin" >&2
  clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$repo/lib" -I"$repo/server" "${sources[@]}" -lldns -o "$bin"
fi
# Seeds: a few well-formed queries (www.example.com A, with and without EDNS).
printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01' \
  > "$out/corpus/seed-a"
printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x07example\x03com\x00\x00\xff\x00\x01\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x04\x00\x03\x00\x00' \
  > "$out/corpus/seed-any-edns-nsid"
exec "$bin" -max_len=1024 -max_total_time="$seconds" -print_final_stats=1 "$out/corpus"
