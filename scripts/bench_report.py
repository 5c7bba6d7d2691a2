#!/usr/bin/env python3
# Turns one scripts/bench results folder into summary.json, a Markdown table and chart.png.
# Every figure is a ratio of two measurements from the same run (shared, noisy machines).
# SPDX-License-Identifier: MIT
import json
import pathlib
import re
import subprocess
import sys


def medians(path):
    """run_name -> the median aggregate of a Google Benchmark JSON file."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    out = {}
    for b in data.get("benchmarks", []):
        if b.get("aggregate_name") == "median" or b.get("run_type") == "iteration":
            out.setdefault(b["run_name"], b)
            if b.get("aggregate_name") == "median":
                out[b["run_name"]] = b
    return out


def find(runs, pattern):
    for name, b in runs.items():
        if re.fullmatch(pattern, name):
            return b
    return None


def cpu(b):
    return b["cpu_time"] if b else None


def rate(b):
    return b.get("items_per_second") if b else None


def ratio(a, b):
    return a / b if a is not None and b else None


def main(folder):
    folder = pathlib.Path(folder)
    rows = []  # (group, metric, value, target text, met or None, how it is computed)

    def add(group, metric, value, target=None, met=None, how=""):
        if value is not None:
            rows.append({"group": group, "metric": metric, "value": round(value, 3),
                         "target": target, "met": met, "how": how})

    mem = medians(folder / "bench_memory.json")
    hit1 = find(mem, r"BM_GetHit_MemoryBackend/real_time/threads:1")
    hit2 = find(mem, r"BM_GetHit_MemoryBackend/real_time/threads:2")
    find_only = find(mem, r"BM_GetHit_UnorderedMapFind/threads:1")
    find_copy = find(mem, r"BM_GetHit_UnorderedMapFindCopy/threads:1")
    lru1 = find(mem, r"BM_GetHit_MutexLru/real_time/threads:1")
    lru2 = find(mem, r"BM_GetHit_MutexLru/real_time/threads:2")
    cache1 = find(mem, r"BM_GetHit_Cache/threads:1")
    v = ratio(cpu(hit1), cpu(find_only))
    add("in-process", "get hit / unordered_map::find", v, "<= 1.3", v is not None and v <= 1.3,
        "CPU time per op, 1 thread")
    add("in-process", "get hit / unordered_map find + copy", ratio(cpu(hit1), cpu(find_copy)),
        how="CPU time per op, 1 thread")
    v = ratio(cpu(hit1), cpu(lru1))
    add("in-process", "get hit / mutex LRU get", v, "< 1", v is not None and v < 1,
        "CPU time per op, 1 thread")
    add("in-process", "Cache::get / MemoryBackend::get", ratio(cpu(cache1), cpu(hit1)),
        how="the virtual call of the runtime-pluggable backend")
    v = ratio(rate(hit2), rate(hit1))
    add("in-process", "2-thread / 1-thread read throughput", v, ">= 1.8",
        v is not None and v >= 1.8, "items/s, real time")
    add("in-process", "mutex LRU 2-thread / 1-thread", ratio(rate(lru2), rate(lru1)),
        how="items/s, real time")
    add("in-process", "get miss / unordered_map::find miss",
        ratio(cpu(find(mem, r"BM_GetMiss_MemoryBackend")), cpu(find(mem, r"BM_GetMiss_UnorderedMapFind"))))
    add("in-process", "set / mutex LRU put",
        ratio(cpu(find(mem, r"BM_Set_MemoryBackend/real_time/threads:1")),
              cpu(find(mem, r"BM_Set_MutexLru/real_time/threads:1"))))
    add("in-process", "set / unordered_map + mutex insert_or_assign",
        ratio(cpu(find(mem, r"BM_Set_MemoryBackend/real_time/threads:1")),
              cpu(find(mem, r"BM_Set_UnorderedMapMutex/threads:1"))))

    memory_txt = folder / "memory.txt"
    if memory_txt.exists():
        m = re.search(r"MemoryBackend \(default shards\)\s+[\d.]+ bytes/entry\s+([\d.]+)x",
                      memory_txt.read_text())
        if m:
            v = float(m.group(1))
            add("in-process", "resident bytes per entry / unordered_map", v, "<= 1.15", v <= 1.15,
                "RSS delta over 1M entries, forked per contestant")

    dts = medians(folder / "bench_dynamic_ttl.json")
    typical = find(dts, r"BM_dynamic_ttl_typical(/threads:1)?")
    if typical:
        ns = typical["cpu_time"] * {"ns": 1, "us": 1e3, "ms": 1e6}[typical["time_unit"]]
        add("DynamicTTL", "typical policy, ns per TTL", ns, "< 1000", ns < 1000,
            "10 types, 4 rules, 3 windows, jitter, local time")
        add("DynamicTTL", "typical / fixed map lookup",
            ratio(cpu(typical), cpu(find(dts, r"BM_baseline_fixed_map"))))

    red = medians(folder / "bench_redis.json")
    v = ratio(find(red, r"get/ttlcache/real_time") and find(red, r"get/ttlcache/real_time")["real_time"],
              find(red, r"get/raw/real_time") and find(red, r"get/raw/real_time")["real_time"])
    add("Redis", "get / raw hiredis GET", v, "<= 1.1", v is not None and v <= 1.1, "real time")
    t_raw = find(red, r"get_many_100/raw_pipeline/real_time")
    t_ours = find(red, r"get_many_100/ttlcache/real_time")
    if t_raw and t_ours:
        v = t_raw["real_time"] / t_ours["real_time"]
        add("Redis", "batch get throughput / raw pipeline", v, ">= 0.9", v >= 0.9,
            "100 keys per batch, real time")
    t_mget = find(red, r"get_many_100/raw_mget/real_time")
    if t_mget and t_ours:
        add("Redis", "batch get throughput / raw MGET", t_mget["real_time"] / t_ours["real_time"])

    ev = medians(folder / "bench_eviction.json")
    add("eviction", "TinyLFU get hit / LRU get hit",
        ratio(cpu(find(ev, r"BM_GetHit<ttlcache::TinyLfuPolicy>/threads:1")),
              cpu(find(ev, r"BM_GetHit<ttlcache::LruPolicy>/threads:1"))), "<= 1.2")

    st = medians(folder / "bench_stats.json")
    off = find(st, r"BM_get_hit/0/threads:1")
    on = find(st, r"BM_get_hit/1/threads:1")
    add("statistics", "get hit with stats / without", ratio(cpu(on), cpu(off)))

    for r in rows:
        if r["target"] and r["met"] is None and r["value"] is not None:
            op, num = r["target"].split()
            num = float(num)
            r["met"] = {"<=": r["value"] <= num, "<": r["value"] < num,
                        ">=": r["value"] >= num}.get(op)

    summary = {"machine": (folder / "machine.txt").read_text() if (folder / "machine.txt").exists() else "",
               "ratios": rows}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print("| group | metric | value | target | met |")
    print("|---|---|---:|---|---|")
    for r in rows:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        print(f"| {r['group']} | {r['metric']} | {r['value']:.2f} | {r['target'] or ''} | {met} |")

    # Chart: every ratio with a target, as value / target bound (1 = on the line).
    plotted = [r for r in rows if r["target"] and "ns" not in r["metric"]]
    if plotted:
        dat = folder / "chart.dat"
        with dat.open("w") as f:
            for i, r in enumerate(plotted):
                bound = float(r["target"].split()[1])
                label = r["metric"].replace('"', "'")
                f.write(f'{i} {r["value"]} {bound} "{label}"\n')
        script = f"""
set terminal png size 1100,{120 + 40 * len(plotted)} noenhanced
set output "{folder / 'chart.png'}"
set title "ttlcache: ratios against same-run baselines (bars) and their targets (x)"
set style fill solid 0.6
set boxwidth 0.6
set yrange [-1:{len(plotted)}]
set ytics ({", ".join(f'"{r["metric"]}" {i}' for i, r in enumerate(plotted))})
set xlabel "ratio"
set grid xtics
unset key
plot "{dat}" using (($2)/2):1:(($2)/2):(0.3) with boxxyerror lc rgb "#4a7ebb", \\
     "{dat}" using 3:1 with points pt 2 ps 2 lc rgb "#c0392b"
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        print(f"\nchart: {folder / 'chart.png'}")


if __name__ == "__main__":
    main(sys.argv[1])
