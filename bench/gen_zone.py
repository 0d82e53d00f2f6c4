#!/usr/bin/env python3
"""Generate a benchmark zone and the queries to send to it.

  bench/gen_zone.py [--names N] [--zone bench.test] [--out DIR] [--queries Q] [--seed S]
                    [--sql]

Writes into DIR (default bench/out):
  ZONE.zone       BIND zone file served by every server (absolute names)
  queries.txt     dnsperf input ("name TYPE" per line), shuffled mix:
                    hit 50% (A 25, AAAA 10, MX 8, TXT 7), NXDOMAIN 10%, NODATA 10%,
                    wildcard 10%, referral 10% (delegation with glue), CNAME 10%
  checks.txt      "category name TYPE" lines: a few queries per category for spot checks
  ZONE.sql        (with --sql) psql script that loads the same records into a
                  zonemesh database in one transaction (COPY into a staging table)
  meta.json       counts (names, records) and one record the freshness/load benches use

The zone has about N owner names:
  hN     host: A; every 2nd also AAAA; every 4th MX; every 8th TXT     (~85% of names)
  cN     CNAME to a host                                               (~5%)
  dN     delegation: NS ns1.dN, ns2.dN + glue A for both               (~10%, 3 names each)
  *.wild wildcard A and TXT
Python standard library only; deterministic for a given seed.
"""

import argparse
import json
import os
import random
import sys


def build(names, zone):
    """Return a list of (owner, type, ttl, content) with absolute owners (no
    trailing dot) and PowerDNS-style content (MX priority inside, names without
    the trailing dot, TXT quoted)."""
    recs = []
    recs.append((zone, "SOA", 3600, f"ns1.{zone} hostmaster.{zone} 1 10800 3600 604800 300"))
    recs.append((zone, "NS", 3600, f"ns1.{zone}"))
    recs.append((zone, "NS", 3600, f"ns2.{zone}"))
    recs.append((f"ns1.{zone}", "A", 3600, "192.0.2.1"))
    recs.append((f"ns2.{zone}", "A", 3600, "192.0.2.2"))
    recs.append((f"mail.{zone}", "A", 3600, "192.0.2.25"))
    recs.append((f"*.wild.{zone}", "A", 300, "198.51.100.7"))
    recs.append((f"*.wild.{zone}", "TXT", 300, '"wildcard"'))
    fixed = 5  # apex, ns1, ns2, mail, *.wild (wild. itself is an empty non-terminal)
    rest = max(names - fixed, 20)
    n_deleg = max(rest // 30, 1)      # 3 names each -> ~10%
    n_cname = max(rest // 20, 1)      # ~5%
    n_host = max(rest - 3 * n_deleg - n_cname, 1)
    for i in range(n_host):
        h = f"h{i}.{zone}"
        recs.append((h, "A", 300, f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"))
        if i % 2 == 0:
            recs.append((h, "AAAA", 300, f"2001:db8::{(i >> 16) & 0xffff:x}:{i & 0xffff:x}"))
        if i % 4 == 0:
            recs.append((h, "MX", 300, f"10 mail.{zone}"))
        if i % 8 == 0:
            recs.append((h, "TXT", 300, f'"v=spf1 ip4:10.0.0.0/8 -all host {i}"'))
    for i in range(n_cname):
        recs.append((f"c{i}.{zone}", "CNAME", 300, f"h{(i * 7) % n_host}.{zone}"))
    for i in range(n_deleg):
        d = f"d{i}.{zone}"
        recs.append((d, "NS", 3600, f"ns1.{d}"))
        recs.append((d, "NS", 3600, f"ns2.{d}"))
        recs.append((f"ns1.{d}", "A", 3600, f"198.18.{(i >> 8) & 255}.{i & 255}"))
        recs.append((f"ns2.{d}", "A", 3600, f"198.19.{(i >> 8) & 255}.{i & 255}"))
    owners = len({r[0] for r in recs})
    return recs, {"hosts": n_host, "cnames": n_cname, "delegations": n_deleg, "names": owners}


def zone_line(owner, rtype, ttl, content):
    if rtype in ("NS", "CNAME"):
        content = content + "."
    elif rtype == "MX":
        pref, host = content.split()
        content = f"{pref} {host}."
    elif rtype == "SOA":
        f = content.split()
        content = f"{f[0]}. {f[1]}. " + " ".join(f[2:])
    return f"{owner}.\t{ttl}\tIN\t{rtype}\t{content}\n"


def sql_escape_copy(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def queries(counts, zone, total, rng):
    nh, nc, nd = counts["hosts"], counts["cnames"], counts["delegations"]
    out = []
    mix = [("A", 25), ("AAAA", 10), ("MX", 8), ("TXT", 7), ("NXDOMAIN", 10), ("NODATA", 10),
           ("WILD", 10), ("REFERRAL", 10), ("CNAME", 10)]
    weights = [w for _, w in mix]
    kinds = [k for k, _ in mix]
    for _ in range(total):
        k = rng.choices(kinds, weights)[0]
        if k == "A":
            out.append(f"h{rng.randrange(nh)}.{zone} A")
        elif k == "AAAA":  # only even hosts have AAAA
            out.append(f"h{rng.randrange(0, nh, 2)}.{zone} AAAA")
        elif k == "MX":
            out.append(f"h{rng.randrange(0, nh, 4)}.{zone} MX")
        elif k == "TXT":
            out.append(f"h{rng.randrange(0, nh, 8)}.{zone} TXT")
        elif k == "NXDOMAIN":
            out.append(f"nx{rng.randrange(10**9)}.{zone} A")
        elif k == "NODATA":  # odd hosts have no AAAA; no host has SRV
            if rng.random() < 0.5 and nh > 1:
                out.append(f"h{rng.randrange(1, nh, 2)}.{zone} AAAA")
            else:
                out.append(f"h{rng.randrange(nh)}.{zone} SRV")
        elif k == "WILD":
            out.append(f"w{rng.randrange(10**9)}.wild.{zone} {rng.choice(['A', 'A', 'TXT'])}")
        elif k == "REFERRAL":
            out.append(f"www.d{rng.randrange(nd)}.{zone} A")
        elif k == "CNAME":
            out.append(f"c{rng.randrange(nc)}.{zone} A")
    return out


def checks(counts, zone):
    nh, nc, nd = counts["hosts"], counts["cnames"], counts["delegations"]
    last = nh - 1
    return [
        ("hit", f"h0.{zone}", "A"), ("hit", f"h{last}.{zone}", "A"),
        ("hit", f"h2.{zone}", "AAAA"), ("hit", f"h4.{zone}", "MX"), ("hit", f"h8.{zone}", "TXT"),
        ("hit", f"{zone}", "SOA"), ("hit", f"{zone}", "NS"),
        ("nxdomain", f"nx1.{zone}", "A"), ("nxdomain", f"x.h1.{zone}", "A"),
        ("nodata", f"h1.{zone}", "AAAA"), ("nodata", f"h0.{zone}", "SRV"),
        ("nodata", f"wild.{zone}", "A"),
        ("wildcard", f"w42.wild.{zone}", "A"), ("wildcard", f"a.b.wild.{zone}", "TXT"),
        ("wildcard_nodata", f"w42.wild.{zone}", "AAAA"),
        ("referral", f"www.d0.{zone}", "A"), ("referral", f"d{nd - 1}.{zone}", "A"),
        ("referral", f"ns1.d0.{zone}", "A"),
        ("cname", f"c0.{zone}", "A"), ("cname", f"c{nc - 1}.{zone}", "A"),
        ("cname", f"c1.{zone}", "CNAME"),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--names", type=int, default=100_000)
    p.add_argument("--zone", default="bench.test")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    p.add_argument("--queries", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sql", action="store_true", help="also write ZONE.sql for zonemesh")
    a = p.parse_args()
    zone = a.zone.lower().rstrip(".")
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    recs, counts = build(a.names, zone)

    with open(os.path.join(a.out, f"{zone}.zone"), "w") as f:
        f.write(f"$ORIGIN {zone}.\n$TTL 300\n")
        for r in recs:
            f.write(zone_line(*r))
    if a.sql:
        with open(os.path.join(a.out, f"{zone}.sql"), "w") as f:
            f.write("\\set ON_ERROR_STOP on\nBEGIN;\n")
            f.write("CREATE TEMP TABLE bench_stage (name text, type text, ttl int, content text) ON COMMIT DROP;\n")
            f.write("COPY bench_stage FROM stdin;\n")
            for owner, rtype, ttl, content in recs:
                f.write("\t".join(sql_escape_copy(x) for x in (owner, rtype, str(ttl), content)) + "\n")
            f.write("\\.\n")
            f.write(f"INSERT INTO zones (name) VALUES ('{zone}');\n")
            f.write(f"INSERT INTO records (zone, name, type, ttl, content) "
                    f"SELECT '{zone}', name, type, ttl, content FROM bench_stage;\n")
            f.write("COMMIT;\n")
    qs = queries(counts, zone, a.queries, rng)
    with open(os.path.join(a.out, "queries.txt"), "w") as f:
        f.write("\n".join(qs) + "\n")
    with open(os.path.join(a.out, "checks.txt"), "w") as f:
        for c in checks(counts, zone):
            f.write(" ".join(c) + "\n")
    meta = dict(counts, zone=zone, records=len(recs), queries=len(qs),
                last_record=f"h{counts['hosts'] - 1}.{zone}",
                freshness_record=f"h1.{zone}")
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta), file=sys.stderr)


if __name__ == "__main__":
    main()
