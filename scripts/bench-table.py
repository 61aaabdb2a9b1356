#!/usr/bin/env python3
"""Render two `wharf bench --json` reports side by side as the Markdown table
of docs/performance.md, with the issue's targets checked:

    scripts/bench-table.py distribution.json wharf.json
"""
import json
import sys


def load(path):
    with open(path) as f:
        return {(r["scenario"], r.get("concurrency", 0)): r for r in json.load(f)["results"]}


def fmt(v):
    if v is None:
        return ""
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def main(base_path, ours_path):
    base, ours = load(base_path), load(ours_path)
    print("| scenario | conc | distribution | wharf | ratio | distribution p99 ms | wharf p99 ms "
          "| distribution per server CPU-s | wharf per server CPU-s | ratio per CPU-s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratio, cpu_ratio = {}, {}
    for key, b in base.items():
        o = ours.get(key)
        if o is None or b.get("error") or o.get("error"):
            continue
        unit = b["unit"]
        latency = unit == "ms"  # lower is better
        r = b["value"] / o["value"] if latency else o["value"] / b["value"]
        ratio[key] = r
        bc, oc = b.get("per_server_cpu_second"), o.get("per_server_cpu_second")
        cr = oc / bc if bc and oc else None
        cpu_ratio[key] = cr
        rtext = f"{r:.2f}x faster" if latency else f"{r:.2f}x"
        cu = b.get("per_server_cpu_second_unit", "")
        print(f"| {key[0]} | {key[1]} | {fmt(b['value'])} {unit} | {fmt(o['value'])} {unit} | {rtext} "
              f"| {fmt(b.get('p99_ms')) if not latency else ''} | {fmt(o.get('p99_ms')) if not latency else ''} "
              f"| {fmt(bc)} {cu if bc else ''} | {fmt(oc)} {cu if oc else ''} | {f'{cr:.2f}x' if cr else ''} |")

    # On one machine the kernel's work for a transfer (readahead behind
    # sendfile, loopback's packet processing) may be charged to the client
    # as much as to the server: the transfers per CPU-second of both.
    both = []
    for key in [("push-monolithic", 1), ("push-chunked", 1), ("pull", 1), ("pull-after-push", 1)]:
        b, o = base.get(key), ours.get(key)
        if not b or not o or b.get("error") or o.get("error"):
            continue
        mb = lambda r: r["value"] * r["seconds"]
        cpu = lambda r: (r.get("server_cpu_seconds") or 0) + (r.get("client_cpu_seconds") or 0)
        if cpu(b) and cpu(o) and b.get("client_cpu_seconds") is not None:
            both.append((key[0], mb(b) / cpu(b), mb(o) / cpu(o)))
    if both:
        print()
        print("| scenario | distribution MB per CPU-s, server + client | wharf | ratio |")
        print("|---|---|---|---|")
        for name, bv, ov in both:
            print(f"| {name} | {fmt(bv)} | {fmt(ov)} | {ov / bv:.2f}x |")

    def met(ok):
        return "met" if ok else "**not met**"

    print()
    print("| target | measured | |")
    print("|---|---|---|")
    hd, gt = ("manifest-head", 64), ("manifest-get", 64)
    p99 = lambda k, d: d.get(k, {}).get("p99_ms", 0)
    ok = all(cpu_ratio.get(k) and cpu_ratio[k] >= 2 and p99(k, ours) <= p99(k, base) for k in (hd, gt))
    print(f"| manifest HEAD/GET at concurrency 64: at least 2x the requests per server CPU-second, p99 no higher "
          f"| HEAD {cpu_ratio.get(hd, 0):.2f}x, p99 {fmt(p99(hd, ours))} vs {fmt(p99(hd, base))} ms; "
          f"GET {cpu_ratio.get(gt, 0):.2f}x, p99 {fmt(p99(gt, ours))} vs {fmt(p99(gt, base))} ms | {met(ok)} |")
    mono, chunk = ratio.get(("push-monolithic", 1), 0), ratio.get(("push-chunked", 1), 0)
    print(f"| 1 GiB blob push: at least 1.3x the MB/s | monolithic {mono:.2f}x, chunked {chunk:.2f}x "
          f"| {met(mono >= 1.3 and chunk >= 1.3)} |")
    print(f"| 1 GiB blob push: at least 2.5x the MB/s | monolithic {mono:.2f}x, chunked {chunk:.2f}x "
          f"| {met(mono >= 2.5 and chunk >= 2.5)} |")
    fresh = ratio.get(("pull-after-push", 1), 0)
    print(f"| first pull of a 1 GiB blob right after its push: at least the MB/s | {fresh:.2f}x | {met(fresh >= 1)} |")
    pull = cpu_ratio.get(("pull", 1)) or 0
    print(f"| 1 GiB pull: at least 1.5x the MB per server CPU-second | {pull:.2f}x | {met(pull >= 1.5)} |")
    small = ratio.get(("small-image-push", 16), 0)
    print(f"| small-image push: at least 1.5x the images/s | {small:.2f}x | {met(small >= 1.5)} |")
    tl, cat = ratio.get(("tag-list", 1), 0), ratio.get(("catalog", 1), 0)
    print(f"| tag list and catalog of 1,000: at most half the latency "
          f"| tag list {1/tl if tl else 0:.2f} of distribution's, catalog {1/cat if cat else 0:.2f} "
          f"| {met(tl >= 2 and cat >= 2)} |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
