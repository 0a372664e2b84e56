#!/usr/bin/env python
"""Whole-process latency of everyday CLI commands, as a user in a terminal sees it (issue 12, part 1).

    python benchmarks/cli_latency.py                       # 100k segments, 5 runs after 1 warm-up, 2 rounds
    python benchmarks/cli_latency.py --segments 2000 --runs 3 --rounds 1   # quick smoke run

Side by side in one run, in rounds (a b a b), each a fresh `vidseek` process:
- a, `local`: `VIDSEEK_RESIDENT_IDLE=0`, every search opens the data dir itself (what 0aa4443 did);
- b, `resident`: the default, the first search starts the resident search process (its time is shown
  as "start"), and the measured ones go through it.
Targets (issue 12): `vidseek search` <= 0.5 s median of 5 after one warm-up on 100k segments, and
`vidseek --help` <= 0.3 s. The data dir is load.py's (synthetic segments, random-weight ViT-B/32 for
the visual route, the real text models), filled once and cached. Not a test: a shared machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import _visual as visual  # noqa: E402
from benchmarks.load import prepare_data, query_list  # noqa: E402

TARGET_SEARCH_S, TARGET_HELP_S = 0.5, 0.3


def vidseek(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    exe = Path(sys.executable).with_name("vidseek")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "vidseek.cli"]
    t0 = time.perf_counter()
    done = subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"vidseek {shlex.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return took, done


def stop_resident(data: Path) -> None:
    from vidseek.serve import resident

    resident.stop(data)


def block(name: str, data: Path, env: dict[str, str], queries: list[str], runs: int) -> dict:
    """One warm-up search, then `runs` searches with other queries; whole-process seconds."""
    stop_resident(data)
    first, _ = vidseek(["search", queries[0], "-d", str(data)], env)
    times, server_ms = [], []
    for q in queries[1 : runs + 1]:
        took, done = vidseek(["search", q, "-d", str(data), "--json"], env)
        times.append(took)
        server_ms.append(1000 * float(json.loads(done.stdout)["seconds"]))
    out = {"name": name, "first_s": first, "times_s": times, "median_s": statistics.median(times),
           "search_ms_median": statistics.median(server_ms)}
    print(f"  {name:<9} first (warm-up{', starts the resident process' if name == 'resident' else ''}) "
          f"{first:.2f} s; then {' '.join(f'{t:.2f}' for t in times)} s -> median {out['median_s']:.3f} s "
          f"(search itself {out['search_ms_median']:.0f} ms)", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--segments", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=5, help="measured searches per block (after one warm-up)")
    p.add_argument("--rounds", type=int, default=2, help="a b rounds")
    p.add_argument("--local-runs", type=int, help="measured local searches per block (default --runs): at 100k each "
                   "opens the store, about a minute")
    p.add_argument("--cache", type=Path, default=Path("~/.cache/vidseek-bench"))
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    cache = args.cache.expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    print(f"vidseek CLI latency: {shlex.join([sys.executable, *sys.argv])}\nmachine: {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    model, note = visual.random_vitb32(cache)
    if model is None:
        raise SystemExit(f"no visual model: {note}")
    data, info = prepare_data(cache, args.segments, model)
    _, queries = query_list(args.segments, info["samples"])
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIDSEEK_")}
    base.update(VIDSEEK_VISUAL_MODEL=str(model), NO_COLOR="1",
                PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    envs = {"local": {**base, "VIDSEEK_RESIDENT_IDLE": "0"}, "resident": {**base, "VIDSEEK_RESIDENT_IDLE": "300"}}
    print(f"data dir {data}: {info['segments']:,} segments ({info['visual_rows']:,} visual + "
          f"{info['text_rows']:,} text rows)", flush=True)
    results: list[dict] = []
    help_times: list[float] = []
    try:
        for r in range(args.rounds):
            print(f"round {r + 1} (loadavg {os.getloadavg()[0]:.2f})", flush=True)
            for name in ("local", "resident"):
                runs = args.runs if name == "resident" or args.local_runs is None else args.local_runs
                offset = (2 * r + (name == "resident")) * (args.runs + 1)
                qs = queries[offset : offset + runs + 1]
                results.append({**block(name, data, envs[name], qs, runs), "round": r + 1})
            for _ in range(args.runs + 1):
                help_times.append(vidseek(["--help"], base)[0])
    finally:
        stop_resident(data)
    help_median = statistics.median(help_times[1:])
    print("\nSUMMARY (medians of each block's runs; whole processes)")
    print(f"{'figure':<44} {'value':>9} {'target':>9}  result")
    for r in results:
        label = f"round {r['round']} search, {r['name']}"
        target = f"<= {TARGET_SEARCH_S}" if r["name"] == "resident" else ""
        ok = ("PASS" if r["median_s"] <= TARGET_SEARCH_S else "FAIL") if target else ""
        print(f"{label:<44} {r['median_s']:>7.3f} s {target:>9}  {ok}")
        if r["name"] == "resident":
            print(f"{'  first search, starting the resident':<44} {r['first_s']:>7.2f} s")
    print(f"{'vidseek --help':<44} {help_median:>7.3f} s {'<= ' + str(TARGET_HELP_S):>9}  "
          f"{'PASS' if help_median <= TARGET_HELP_S else 'FAIL'}")
    print(f"loadavg at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"segments": info["segments"], "blocks": results, "help_s": help_times}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
