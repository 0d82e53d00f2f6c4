#!/usr/bin/env python3
"""Markdown tables from the JSON lines of bench/replication_*.py: replication_table.py results.jsonl"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]


def done(r):
    d = r.get("dns_done_s") or r.get("sql_done_s") or {}
    return d


print("### Latency, COMMIT at A to the new value at B / C (ms)\n")
print("| system | seen at | changes | p50 | p90 | p99 | max | min | missed | load |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for r in rows:
    if r["bench"] == "latency":
        print(f"| {r['system']} | {r['probe']} | {r['changes']} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | "
              f"{r['max_ms']} | {r['min_ms']} | {r['missed']} | {r['load']} |")
print("\n### Catch-up (s from the restart to the last change at B / C)\n")
print("| system | changes | rows/tx | writing at A took s | B | C | load |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
for r in rows:
    if r["bench"] == "catchup":
        d = done(r)
        vals = list(d.values())
        print(f"| {r['system']} ({'DNS' if 'dns_done_s' in r else 'SQL'}) | {r['changes']} | {r['per_tx']} | {r['write_s']} | "
              f"{vals[0]} | {vals[1]} | {r['load']} |")
print("\n### Sustained writer at A\n")
print("| system | changes | rows/tx | writer s | writer changes/s | B, C done after writer s | max lag B, C (changes) | max lag B, C (s) | load |")
print("| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |")
for r in rows:
    if r["bench"] == "sustained":
        aw = ", ".join(str(v) for v in r["after_writer_s"].values())
        ml = ", ".join(str(v) for v in r["max_lag_changes"].values())
        ms = ", ".join(str(v) for v in r["max_lag_s"].values())
        print(f"| {r['system']} ({'DNS' if 'dns_done_s' in r else 'SQL'}) | {r['changes']} | {r['per_tx']} | {r['writer_s']} | "
              f"{r['writer_changes_per_s']} | {aw} | {ml} | {ms} | {r['load']} |")
