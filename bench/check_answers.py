#!/usr/bin/env python3
"""Spot-check that DNS servers answer the benchmark zone correctly.

  bench/check_answers.py CHECKS_FILE NAME=PORT [NAME=PORT ...]

CHECKS_FILE is gen_zone.py's checks.txt ("category qname qtype" per line).
For each server, each query is sent with dig (+norec, UDP, EDNS) to 127.0.0.1:PORT
and checked against what its category demands (RFC 1034 4.3.2, 2308, 4592):
  hit            NOERROR, AA, an RR of qtype owned by qname in the answer
  nxdomain       NXDOMAIN, AA, no answer, SOA in authority
  nodata         NOERROR, AA, no answer, SOA in authority (also wildcard_nodata)
  wildcard       NOERROR, AA, an RR of qtype owned by qname (synthesised)
  referral       NOERROR, no AA, no answer, NS of the cut in authority, glue A in additional
  cname          NOERROR, AA, the CNAME, and for qtype A the target's A too
Then the answer and authority sections (SOA serials masked) are compared
across servers. Prints one line per problem and a summary; exit 1 on any
failed expectation.
"""

import re
import subprocess
import sys


def query(port, qname, qtype):
    out = subprocess.run(["dig", "+norec", "+tries=2", "+time=2", "@127.0.0.1", "-p", str(port),
                          qname, qtype], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout
    res = {"status": None, "flags": set(), "answer": [], "authority": [], "additional": [],
           "raw": out}
    section = None
    for line in out.splitlines():
        m = re.search(r"status: (\w+)", line)
        if m:
            res["status"] = m.group(1)
        m = re.match(r";; flags: ([^;]*);", line)
        if m:
            res["flags"] = set(m.group(1).split())
        m = re.match(r";; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:", line)
        if m:
            section = m.group(1).lower()
            continue
        if not line.strip() or line.startswith(";"):
            if not line.strip():
                section = None
            continue
        if section:
            f = line.split(None, 4)
            if len(f) >= 4:
                name, ttl, cls, rtype = f[:4]
                rdata = f[4] if len(f) > 4 else ""
                if rtype == "OPT":
                    continue
                res[section].append((name.lower().rstrip("."), rtype, rdata.lower()))
    return res


def has(rrs, owner=None, rtype=None):
    return any((owner is None or o == owner) and (rtype is None or t == rtype) for o, t, _ in rrs)


def expect(cat, qname, qtype, r):
    errs = []
    aa = "aa" in r["flags"]
    q = qname.lower().rstrip(".")
    if r["status"] is None:
        return ["no answer"]
    if cat in ("hit", "wildcard"):
        if r["status"] != "NOERROR" or not aa or not has(r["answer"], q, qtype):
            errs.append(f"want NOERROR AA with {qtype} at {q}")
    elif cat == "nxdomain":
        if r["status"] != "NXDOMAIN" or not aa or r["answer"] or not has(r["authority"], None, "SOA"):
            errs.append("want NXDOMAIN AA, no answer, SOA in authority")
    elif cat in ("nodata", "wildcard_nodata"):
        if r["status"] != "NOERROR" or not aa or r["answer"] or not has(r["authority"], None, "SOA"):
            errs.append("want NOERROR AA, empty answer, SOA in authority")
    elif cat == "referral":
        labels = q.split(".")
        cut = next((".".join(labels[i:]) for i in range(len(labels)) if labels[i].startswith("d")
                    and labels[i][1:].isdigit()), None)
        if r["status"] != "NOERROR" or aa or r["answer"] or not has(r["authority"], cut, "NS"):
            errs.append(f"want referral (NOERROR, no AA, NS of {cut} in authority)")
        if not (has(r["additional"], f"ns1.{cut}", "A") and has(r["additional"], f"ns2.{cut}", "A")):
            errs.append("want glue A for ns1/ns2 in additional")
    elif cat == "cname":
        if r["status"] != "NOERROR" or not aa or not has(r["answer"], q, "CNAME"):
            errs.append("want NOERROR AA with the CNAME")
        elif qtype == "A":
            target = next(d for o, t, d in r["answer"] if o == q and t == "CNAME").rstrip(".")
            if not has(r["answer"], target, "A"):
                errs.append(f"want the target's A ({target}) after the CNAME")
    return errs


def normal(r, apex):
    def mask(rrs):
        out = []
        for o, t, d in rrs:
            if t == "SOA":
                f = d.split()
                d = " ".join(f[:2] + ["<serial>"] + f[3:])
            out.append((o, t, d))
        return sorted(out)
    auth = r["authority"]
    if r["answer"]:  # the apex NS RRset in a positive answer is optional (NSD adds it)
        auth = [rr for rr in auth if not (rr[0] == apex and rr[1] == "NS")]
    return (r["status"], "aa" in r["flags"], mask(r["answer"]), mask(auth))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    checks = [l.split() for l in open(sys.argv[1]) if l.strip()]
    servers = [a.split("=", 1) for a in sys.argv[2:]]
    failed = 0
    total = 0
    results = {}
    for name, port in servers:
        for cat, qname, qtype in checks:
            r = query(port, qname, qtype)
            results[(name, qname, qtype)] = r
            total += 1
            errs = expect(cat, qname, qtype, r)
            if errs:
                failed += 1
                print(f"FAIL {name} {cat} {qname} {qtype}: {'; '.join(errs)}")
                print("  got " + " | ".join(l for l in r["raw"].splitlines()
                                           if l and not l.startswith(";") or "status" in l))
    diffs = 0
    ref = servers[0][0]
    apex = next(q for c, q, t in checks if t == "SOA").lower().rstrip(".")
    for name, _ in servers[1:]:
        for cat, qname, qtype in checks:
            a, b = normal(results[(ref, qname, qtype)], apex), normal(results[(name, qname, qtype)], apex)
            if a != b:
                diffs += 1
                print(f"DIFF {ref} vs {name} {qname} {qtype}:\n  {ref}: {a}\n  {name}: {b}")
    print(f"check_answers: {total - failed} passed, {failed} failed "
          f"({len(checks)} queries x {len(servers)} servers; {diffs} answer/authority differences vs {ref})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
