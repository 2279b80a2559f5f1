#!/usr/bin/env python3
"""Markdown table of bench/side_by_side.sh results: keyway vs the peer per round, with per-round ratios.

    python3 bench/summarize.py OUTDIR HASH DB
"""
import glob
import json
import os
import re
import statistics
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def kwb(d):  # keyway-bench --json
    r = d["results"][0]
    return {"fps": r["ops_per_s"], "cpu": r["server_cpu_ms_per_op"], "p50": r["latency_ms"]["p50"],
            "p99": r["latency_ms"]["p99"], "tok_p99": r["steps_ms"].get("3_token", {}).get("p99"),
            "err": r["errors"], "n": r["ops"], "other": r["other_cores"], "cli": r["client_cores"]}


def fb(d):  # flow_bench.py --json
    return {"fps": d["flows_per_s"], "cpu": d["server_cpu_ms_per_flow"], "p50": d["steps_ms"]["flow"]["p50"],
            "p99": d["steps_ms"]["flow"]["p99"], "tok_p99": d["steps_ms"]["token"]["p99"],
            "err": d["errors"], "n": d["flows"], "other": d["other_busy_cores"], "cli": None}


# RS256 signatures per login flow: keyway signs the access token (RFC 9068 JWT) and the id_token, the peer only the
# id_token (its access tokens are opaque). With keyway's opt-in ES256 access tokens (KEYWAY_ACCESS_TOKEN_SIGNING_ALG
# in the environment of the run) only its id_token is RSA; the ES256 signature then counts as non-RSA work.
KW_RSA_SIGS = 1 if os.environ.get("KEYWAY_ACCESS_TOKEN_SIGNING_ALG", "RS256").upper() == "ES256" else 2
SIGS = {"kw": KW_RSA_SIGS, "peer": 1}


def non_rsa(cpu_ms, who, rsa_ms):
    """Issue 16's formula: server CPU per flow minus signatures x one RSA-2048 signature on one core (openssl speed,
    same round)."""
    return cpu_ms - SIGS[who] * rsa_ms if rsa_ms else float("nan")


def main():
    out, hash_, db = sys.argv[1:4]
    rounds = sorted({int(m.group(1)) for p in glob.glob(f"{out}/{hash_}-{db}-r*-*.json")
                     if (m := re.search(r"-r(\d+)-", os.path.basename(p)))})
    print(f"\n### {hash_} hash, {db}\n")
    print("| round | load generator | keyway flows/s | peer flows/s | flows/s ratio | keyway CPU ms/flow "
          "| peer CPU ms/flow | CPU ratio kw/peer | RSA sign ms | keyway non-RSA | peer non-RSA | non-RSA ratio "
          "| keyway p50/p99 ms | peer p50/p99 ms | errors kw/peer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ratios = {"kwb": ([], [], []), "fb": ([], [], [])}
    pg_rows = []
    for r in rounds:
        canary = (load(f"{out}/{hash_}-{db}-r{r}-canary.json") or {}).get("rsa2048_sign_per_s_1core")
        rsa_ms = 1000.0 / canary if canary else None
        for tool, parse, name in (("kwb", kwb, "keyway-bench"), ("fb", fb, "flow_bench.py")):
            k, p = load(f"{out}/{hash_}-{db}-r{r}-{tool}-kw.json"), load(f"{out}/{hash_}-{db}-r{r}-{tool}-peer.json")
            if not k or not p:
                continue
            k, p = parse(k), parse(p)
            fr = k["fps"] / p["fps"] if p["fps"] else float("nan")
            cr = k["cpu"] / p["cpu"] if p["cpu"] else float("nan")
            kn, pn = non_rsa(k["cpu"], "kw", rsa_ms), non_rsa(p["cpu"], "peer", rsa_ms)
            nr = kn / pn if pn else float("nan")
            ratios[tool][0].append(fr)
            ratios[tool][1].append(cr)
            ratios[tool][2].append(nr)
            rsa_txt = f"{rsa_ms:.3f}" if rsa_ms else "?"
            print(f"| {r} | {name} | {k['fps']:.0f} | {p['fps']:.0f} | **{fr:.2f}** | {k['cpu']:.2f} | {p['cpu']:.2f} "
                  f"| **{cr:.2f}** | {rsa_txt} | {kn:.2f} | {pn:.2f} | **{nr:.2f}** "
                  f"| {k['p50']:.1f} / {k['p99']:.1f} | {p['p50']:.1f} / {p['p99']:.1f} | {k['err']} / {p['err']} |")
            pg = load(f"{out}/{hash_}-{db}-r{r}-{tool}-kw-pgcpu.json")
            if pg and pg.get("keyway_cpu_s"):
                # Both CPU deltas were read around the same whole run (warm-up included): scale keyway's CPU per flow
                # of the timed phase by the backends' share.
                both = k["cpu"] * (1 + pg["postgres_cpu_s"] / pg["keyway_cpu_s"])
                bn = non_rsa(both, "kw", rsa_ms)
                pg_rows.append(f"| {r} | {name} | {k['cpu']:.2f} | {both - k['cpu']:.2f} | {both:.2f} | {kn:.2f} "
                               f"| {bn:.2f} | {pn:.2f} | **{kn / pn:.2f}** | **{bn / pn:.2f}** |")
    for tool, name in (("kwb", "keyway-bench"), ("fb", "flow_bench.py")):
        fr, cr, nr = ratios[tool]
        if fr:
            print(f"| median | {name} | | | **{statistics.median(fr):.2f}** | | | **{statistics.median(cr):.2f}** "
                  f"| | | | **{statistics.median(nr):.2f}** | | | |")
    if pg_rows:
        print("\nPostgreSQL: keyway's CPU and the kwbench backends' CPU per flow (ms); non-RSA ratios against the peer\n")
        print("| round | load generator | keyway | postgres backends | together | keyway non-RSA | together non-RSA "
              "| peer non-RSA | ratio keyway alone | ratio together |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(pg_rows))
    idle, hwm = load(f"{out}/{hash_}-{db}-idle.json") or {}, load(f"{out}/{hash_}-{db}-hwm.json") or {}
    print(f"\nRSS: keyway idle {idle.get('keyway_idle_rss_mib')} MiB, peak (VmHWM) {hwm.get('keyway_vmhwm_mib')} MiB; "
          f"peer idle {idle.get('peer_idle_rss_mib')} MiB, peak {hwm.get('peer_vmhwm_mib')} MiB")


if __name__ == "__main__":
    main()
