#!/usr/bin/env python3
"""Medians, ratios, the table and the JSON of scripts/proxy_bench.sh.

Input: the runner's results file, one measurement a line, `key=value`
pairs: part=proxy|client name=... round=N rps=R cpu_us=U errors=E ...
The first name of each part is ours, the second the peer; ratios are
ours / peer.
"""
import argparse
import json
import statistics
import sys

PARTS = {
    "proxy": {
        "title": "proxy: wrk -c{conns} -> proxy -> nginx (1 worker)",
        "names": [("evloop", "evloop proxy example"),
                  ("nginx", "nginx proxy_pass, keepalive 64")],
        "targets": "targets: req/s ratio >= 1.00, CPU/request ratio <= 1.00",
    },
    "client": {
        "title": "client: {requests} GETs over {conns} keep-alive connections -> nginx",
        "names": [("evloop", "evloop-http client (client_bench)"),
                  ("hyper", "hyper 1.x legacy Client, tokio current_thread")],
        "targets": "target: req/s ratio against the peer (issue: measured, no bound)",
    },
}


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            kv = dict(t.split("=", 1) for t in line.split() if "=" in t)
            if "part" in kv:
                rows.append(kv)
    return rows


def med(rows, key):
    vals = [float(r[key]) for r in rows if key in r]
    return statistics.median(vals) if vals else None


def paired(rows, ours, peer):
    by_round = {}
    for r in rows:
        by_round.setdefault(r["round"], {})[r["name"]] = r
    rps, cpu = [], []
    for pair in by_round.values():
        a, b = pair.get(ours), pair.get(peer)
        if not a or not b:
            continue
        if float(b["rps"]) > 0:
            rps.append(float(a["rps"]) / float(b["rps"]))
        if float(b["cpu_us"]) > 0:
            cpu.append(float(a["cpu_us"]) / float(b["cpu_us"]))
    if not rps or not cpu:
        return None
    return {"rps": statistics.median(rps), "cpu_us_per_req": statistics.median(cpu)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--json")
    ap.add_argument("--conns", default="64")
    ap.add_argument("--requests", default="100000")
    ap.add_argument("--meta", default="")
    a = ap.parse_args()
    rows = load(a.results)
    out = {"meta": a.meta.splitlines(), "parts": {}}
    for part, spec in PARTS.items():
        prow = [r for r in rows if r["part"] == part]
        if not prow:
            continue
        title = spec["title"].format(conns=a.conns, requests=a.requests)
        print(title)
        print(f"  {'':<48} {'req/s':>10} {'CPU us/req':>11} {'errors':>7} {'rounds':>6}")
        res = {}
        for name, label in spec["names"]:
            r = [x for x in prow if x["name"] == name]
            if not r:
                print(f"  {label:<48} {'not run':>10}")
                continue
            rps, cpu = med(r, "rps"), med(r, "cpu_us")
            errs = sum(int(x.get("errors", 0)) for x in r)
            res[name] = {"rps": rps, "cpu_us_per_req": cpu, "errors": errs,
                         "rounds": [{k: x[k] for k in x if k not in ("part", "name")} for x in r]}
            print(f"  {label:<48} {rps:>10.0f} {cpu:>11.2f} {errs:>7} {len(r):>6}")
        ours, peer = (n for n, _ in spec["names"])
        if ours in res and peer in res and res[peer]["rps"] and res[peer]["cpu_us_per_req"]:
            rr = res[ours]["rps"] / res[peer]["rps"]
            cr = res[ours]["cpu_us_per_req"] / res[peer]["cpu_us_per_req"]
            res["ratio"] = {"rps": rr, "cpu_us_per_req": cr}
            print(f"  {'ratio ' + ours + ' / ' + peer + ' (of the medians)':<48} {rr:>9.2f}x {cr:>10.2f}x")
            # Runs next to each other see the same load from the rest of
            # the machine: the ratio within each round, then its median,
            # is the steadier figure on a busy machine.
            pr = paired(prow, ours, peer)
            if pr:
                res["ratio_paired"] = pr
                print(f"  {'ratio ' + ours + ' / ' + peer + ' (median per round)':<48} "
                      f"{pr['rps']:>9.2f}x {pr['cpu_us_per_req']:>10.2f}x")
        print(f"  ({spec['targets']})")
        print()
        out["parts"][part] = res
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"json: {a.json}")


if __name__ == "__main__":
    sys.exit(main())
