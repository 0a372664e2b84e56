#!/usr/bin/env python
"""Every vidseek benchmark in one command; writes BENCHMARKS.md.

    python benchmarks/suite.py                       # all of it: ~40-60 min on 2 cores (mostly the 1M-segment fill)
    python benchmarks/suite.py --quick               # reduced sizes, to check the plumbing: ~3-5 min
    python benchmarks/suite.py --only quality,index  # some parts: quality, index, query, load
    VIDSEEK_VISUAL_MODEL=~/models/clip-b32 python benchmarks/suite.py   # visual route with real weights

Each step is a subprocess with its own JSON in --work (`vidseek corpus make` + `vidseek eval`, bench.py,
load.py); its output streams here and to --work/logs/. A failed step is recorded with the tail of its
output and the suite goes on. Models, bench videos and load.py's data dirs are cached in --cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
_EXE = Path(PY).with_name("vidseek")
VIDSEEK = [str(_EXE)] if _EXE.exists() else [PY, "-m", "vidseek.cli"]
PARTS = ("quality", "index", "query", "load")
PACKAGES = ("vidseek", "numpy", "onnxruntime", "faster-whisper", "ctranslate2", "rapidocr", "pymilvus",
            "milvus-lite", "av", "torch", "transformers", "fastapi", "uvicorn")
STAGES = ("frames", "visual", "ocr", "speech", "store")
FULL = {"corpora": ["tiny", "small"], "minutes": [], "sizes": [10_000, 100_000, 1_000_000], "queries": 200,
        "load": ["--segments", "100000", "--seconds", "30"]}
QUICK = {"corpora": ["tiny"], "minutes": ["--minutes", "2"], "sizes": [2_000, 10_000], "queries": 100,
         "load": ["--segments", "2000", "--seconds", "5"]}
QCOLS = (("R@1", "R@1"), ("R@5", "R@5"), ("R@10", "R@10"), ("MRR", "MRR"), ("mR@1@0.3", "mR@1 .3"),
         ("mR@1@0.5", "mR@1 .5"), ("mR@1@0.7", "mR@1 .7"), ("mIoU", "mIoU"), ("no_match", "no-match"),
         ("p50_ms", "p50 ms"), ("N", "N"))


@dataclass
class Step:
    name: str
    argv: list[str]
    json: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    needs: list[Step] = field(default_factory=list)
    rc: int | None = None
    wall_s: float = 0.0
    tail: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def command(self) -> str:
        shown = ["python" if a == PY else "vidseek" if a == str(_EXE) else a for a in self.argv]
        return " ".join([f"{k}={shlex.quote(v)}" for k, v in self.env.items()] + [shlex.join(shown)])

    def data(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.json.read_text()) if self.json else None
        except (OSError, ValueError):
            return None


def run(step: Step, logs: Path) -> None:
    """Run one step, streaming its output to the terminal and its log; records exit, wall time, tail."""
    if blocked := [s.name for s in step.needs if not s.ok]:
        step.note = f"skipped: {', '.join(blocked)} failed"
        print(f"\n# {step.name}: {step.note}", flush=True)
        return
    print(f"\n{'#' * 100}\n# {step.name}: {step.command()}\n{'#' * 100}", flush=True)
    if step.json is not None:
        step.json.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", **step.env}
    tail: deque[str] = deque(maxlen=40)
    t0 = time.perf_counter()
    try:
        with open(logs / (step.name.replace(" ", "-").replace(",", "") + ".log"), "w") as log, subprocess.Popen(
                step.argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                errors="replace") as proc:
            for line in proc.stdout:
                sys.stdout.write(line)
                log.write(line)
                tail.append(line)
        step.rc = proc.returncode
    except OSError as exc:
        step.rc, tail = 127, deque([f"{exc}\n"])
    step.wall_s, step.tail = time.perf_counter() - t0, "".join(tail)
    print(f"# {step.name}: exit {step.rc} after {step.wall_s:.0f} s", flush=True)


def build_tiny_clip(out: Path) -> int:
    """The tests' tiny CLIP (tests/tinyclip.py, as tests/conftest.py builds it), exported once into `out`."""
    if out.is_dir() and any(out.iterdir()):
        print(f"tiny CLIP: cached in {out}")
        return 0
    sys.path.insert(0, str(REPO))
    from tests import tinyclip
    from vidseek.analyze.export import export_model

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.perf_counter()
    checkpoint = tinyclip.build_tiny_clip(tmp / "checkpoint", seconds=120)
    export_model(checkpoint, tmp / "onnx", name="tiny-clip", calibration_pairs=tinyclip.calibration_pairs())
    (tmp / "onnx").rename(out)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"tiny CLIP: built in {time.perf_counter() - t0:.0f} s into {out}")
    return 0


def plan(args: argparse.Namespace) -> list[Step]:
    cfg, work, cache, steps = QUICK if args.quick else FULL, args.work, str(args.cache), []
    if "quality" in args.only:
        model, clip = args.visual_model, []
        if not model:
            model = str(args.cache / "models" / "tiny-clip-onnx")
            clip = [Step("tiny clip", [PY, "benchmarks/suite.py", "--build-tiny-clip", model])]
            steps += clip
        for size in cfg["corpora"]:
            corpus, out = work / f"corpus-{size}", work / f"eval-{size}"
            make = Step(f"corpus {size}", [*VIDSEEK, "corpus", "make", str(corpus), "--size", size, "--seed", "0"],
                        json=corpus / "corpus.json")
            steps += [make, Step(f"eval {size}", [*VIDSEEK, "eval", str(corpus / "queries.jsonl"), "--index",
                                                  str(corpus), "-d", str(out / "data"), "-o", str(out)],
                                 json=out / "report.json", env={"VIDSEEK_VISUAL_MODEL": model}, needs=[*clip, make])]
    bench = [PY, "benchmarks/bench.py", "--work", cache] + (["--visual-model", args.visual_model] if args.visual_model
                                                            else [])
    if "index" in args.only:
        steps.append(Step("index", [*bench, "--only", "index", *cfg["minutes"], "--json", str(work / "index.json")],
                          json=work / "index.json"))
    for size in cfg["sizes"] if "query" in args.only else []:  # one run per size: a failure keeps the others
        out = work / f"query-{size}.json"
        steps.append(Step(f"query {size:,}", [*bench, "--only", "query", "--sizes", str(size), "--queries",
                                              str(cfg["queries"]), "--json", str(out)], json=out))
    if "load" in args.only:
        load = [PY, "benchmarks/load.py", *cfg["load"], "--clients", "1,4,8", "--cache", cache]
        steps += [Step("load", [*load, "--json", str(work / "load.json")], json=work / "load.json"),
                  Step("load idle", [*load, "--no-index", "--json", str(work / "load-idle.json")],
                       json=work / "load-idle.json")]
    return steps


def machine() -> dict[str, str]:
    def grab(path: str, key: str) -> str:
        try:
            return next(ln.split(key, 1)[1].strip(" :=\t\"\n") for ln in open(path) if ln.startswith(key))
        except (OSError, StopIteration):
            return "?"

    mem = grab("/proc/meminfo", "MemTotal")
    return {"CPU": grab("/proc/cpuinfo", "model name"), "cores": str(os.cpu_count()),
            "RAM": f"{int(mem.split()[0]) / 2**20:.1f} GiB" if mem[:1].isdigit() else "?",
            "OS": f"{grab('/etc/os-release', 'PRETTY_NAME')}, Linux {platform.release()}"}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    for label, cmd in (("vidseek git", ["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
                       ("espeak-ng", ["espeak-ng", "--version"])):
        try:
            out[label] = subprocess.run(cmd, capture_output=True, text=True).stdout.split(" Data at")[0].strip()
        except OSError:
            out[label] = "not installed"
    return out


def f(x: Any, spec: str = ".1f") -> str:
    return "—" if x is None else format(x, spec)


def mib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in r) + " |" for r in rows), ""]


def reproduce(steps: list[Step]) -> list[str]:
    return ["Reproduce:", "", "```sh", *(s.command() for s in steps), "```", ""]


def broken(steps: list[Step]) -> list[str]:
    return [f"**Step `{s.name}`: {s.note or f'exit {s.rc}'}** — "
            + ("the figures above are what it wrote" if s.data() else "not measured") + "; see Steps below.\n"
            for s in steps if not s.ok or not s.data()]


def qrow(name: str, m: dict[str, Any]) -> list[str]:
    return [name, *(f(m.get(k), "d" if k == "N" else ".0f" if k == "p50_ms" else ".2f") for k, _ in QCOLS)]


def md_quality(make: Step, ev: Step, size: str) -> list[str]:
    lines, steps = [f"### Corpus `{size}`", ""], [*ev.needs, ev]
    corpus, report = make.data(), ev.data()
    if corpus:
        lines.append(f"{corpus['videos']} generated videos ({corpus['seconds'] / 60:.1f} min, seed {corpus['seed']}), "
                     f"{corpus['queries']} queries ({corpus['out_of_library']} with no answer in the library); "
                     "per route tag: " + ", ".join(f"{k} {v}" for k, v in corpus["routes"].items()) + ".\n")
    if not report:
        return lines + broken(steps) + reproduce(steps)
    lines += table(["setting", *(h for _, h in QCOLS)], [qrow(k, m) for k, m in report["metrics"].items()])
    by_tag = report["breakdown"]["by_tag"]
    rows = [qrow(f"{who} on `{r}` queries", by_tag[who][r]) for r in by_tag if r != "fused" and r in by_tag[r]
            for who in (r, "fused") if r in by_tag.get(who, {})]
    lines += ["Ablation: each route alone on the queries tagged for it, and fused on the same queries:", ""]
    lines += table(["setting", *(h for _, h in QCOLS)], rows) + [f"- eval: {w}" for w in report.get("warnings", [])]
    return lines + [""] + reproduce(steps)


def md_index(step: Step) -> list[str]:
    lines = ["## Indexing speed, peak RSS, bytes per video hour", ""]
    d = (step.data() or {}).get("sections", {}).get("index")
    if not d or "error" in d:
        return lines + [f"`{d['error']}`\n" if d else ""] + broken([step]) + reproduce([step])
    dur, first = d["duration"], d["all"]
    st, total = first["result"]["stage_seconds"], first["index_s"]
    load_s = sum(v["seconds"] for v in first["model_load"].values())
    lines.append(f"A generated {dur / 60:g}-minute 640×360 video (narration, EN/ZH captions, scene changes), routes "
                 f"{', '.join(d['routes'])}; visual model: {d['visual_model']}. × realtime = video s / wall s.\n")
    rows = [[s, f(st[s], ".2f"), f"{dur / st[s]:.1f}×"] for s in STAGES if st.get(s)]
    rows += [["other (probe, hash, audio decode, catalog)", f(total - sum(st.values()), ".2f"), ""],
             ["**total `lib.index()`**", f(total, ".2f"), f"**{dur / total:.1f}×**"],
             ["model load + store open (once per process)", f(load_s, ".2f"), ""],
             ["total incl. model load", f(total + load_s, ".2f"), f"{dur / (total + load_s):.1f}×"]]
    lines += table(["stage", "seconds", "× realtime"], rows)
    per_hour = {k: v * 3600 / dur for k, v in d["bytes"].items()}
    rows = [["peak RSS, indexing process (wait4 ru_maxrss)", mib(first["peak_rss"])],
            ["peak RSS, process tree incl. Milvus Lite server (sampled)", mib(first["tree_rss_peak"])],
            ["data dir per video hour (all routes)", f"{mib(per_hour.pop('total'))} ("
             + ", ".join(f"{k} {mib(v)}" for k, v in per_hour.items()) + ")"]]
    if d.get("incremental"):
        rows.append(["incremental re-index of the unchanged video / first index",
                     f"{d['incremental']['index_s'] / (total + load_s):.1%}"])
    if d.get("visual_alone"):
        vs = d["visual_alone"]["result"]["stage_seconds"]
        rows.append(["visual route alone (frames + visual + store)",
                     f"{dur / sum(vs.get(k, 0.0) for k in ('frames', 'visual', 'store')):.1f}× realtime"])
    return lines + table(["figure", "value"], rows) + reproduce([step])


def md_query(steps: list[Step]) -> list[str]:
    lat, calls, build = [], [], []
    for step in steps:
        for size, r in ((step.data() or {}).get("sections", {}).get("query") or {}).get("sizes", {}).items():
            n = f"{int(size):,}"
            if "skipped" in r:
                lat.append([n, f"skipped: {r['skipped']}", *[""] * 5])
                continue
            lat += [[n, mode, *(f(s.get(k)) for k in ("p50", "p95", "p99", "mean")), s["n"]]
                    for mode, s in r["e2e"].items()]
            calls += [[n, c, *(f(s.get(k)) for k in ("p50", "p95", "p99"))] for c, s in r["raw"].items()]
            fl, rss = r["fill"], r.get("rss", {})
            build.append([n, f"{fl['visual_rows']:,} + {fl['text_rows']:,}", f(fl["insert_visual_s"]),
                          f(fl["insert_text_s"]), f(fl["wait_indexed_s"]), f(fl["catalog_s"]), f(fl["total_s"]),
                          f"{fl['rows_per_s']:,.0f}", mib(r["data_dir_bytes"]),
                          " / ".join(mib(rss[k]) for k in ("this_process", "children") if k in rss)])
    lines = ["## Query latency (synthetic store)", "",
             "`lib.search(q).routes(...).limit(10).to_list()` end to end in ms, after 5 warm-up queries; `text` = "
             "speech+ocr+title, `all` = every route fused. Each size is its own run (commands below).", ""]
    lines += table(["segments", "routes", "p50", "p95", "p99", "mean", "queries"], lat) + broken(steps)
    lines += ["Single store / encoder calls, as the search path makes them (ms):", ""]
    lines += table(["segments", "call", "p50", "p95", "p99"], calls) + reproduce(steps)
    lines += ["## Index build time (synthetic store)", "",
              "Filling the store: 1 visual row + ~3 text rows per segment, inserted in batches of 20 videos, then "
              "`wait_indexed` until every index is built; total includes the catalog rows. RSS after the fill: "
              "bench process / its children (the Milvus Lite server).", ""]
    lines += table(["segments", "rows visual + text", "insert visual s", "insert text s", "wait_indexed s",
                    "catalog s", "total s", "rows/s", "data dir", "RSS"], build)
    return lines + reproduce(steps)


def md_load(steps: list[Step]) -> list[str]:
    rows, fill = [], {}
    for step in steps:
        d = step.data() or {}
        fill = d.get("fill", fill)
        rows += [[r["indexing"], r["clients"], r["requests"], f(r["qps"]), *(f(r[k], ".0f") for k in (
            "p50_ms", "p95_ms", "p99_ms", "max_ms", "server_p50_ms", "server_p95_ms")), r["errors"]]
            for r in d.get("levels", [])]
    seconds = steps[0].argv[steps[0].argv.index("--seconds") + 1]
    lines = ["## Server throughput (`vidseek serve`, synthetic store)", "",
             f"C client threads (keep-alive httpx) send `POST /api/search` (limit 10) for {seconds} s per level "
             f"against {fill.get('segments', 0):,} synthetic segments; with indexing, a generated speech video is "
             "indexed through the API during each level (then cancelled). Client-side ms; `server` = the search "
             "time the server reports.", ""]
    lines += table(["indexing during run", "clients", "requests", "QPS", "p50", "p95", "p99", "max", "server p50",
                    "server p95", "errors"], rows)
    return lines + broken(steps) + reproduce(steps)


def md_notes(vm: str | None) -> list[str]:
    return ["## What the numbers are", "",
            "- **Synthetic data**: query latency, index build time and server throughput use a store that bench.py "
            "fills with synthetic vectors (random, leaning towards 64 concepts) and word-salad English/Chinese text "
            "rows, catalog rows to match. Store and search costs are real; relevance is not.",
            "- **Indexing speed**: a generated video; visual model " + (f"`{vm}` (given)." if vm else "a random-weight "
            "ViT-B/32 CLIP, int8: a real one's compute, meaningless vectors, **speed only**.") + " load.py always "
            "indexes with the random ViT-B/32.",
            "- **Quality**: `vidseek eval` on the generated corpus (seed 0; the suite empties `-o` first) with the "
            "shipped speech (faster-whisper base) and OCR (RapidOCR) models; visual = " + ("the given model." if vm
            else "the **tiny test CLIP** (tests/tinyclip.py): the route's plumbing and fusion, not a real model."),
            "- **Not measured here**: visual quality with real CLIP/SigLIP weights (no downloads on this machine); "
            "GPUs (CPU only); real footage. The machine may be shared: see the load average above.", "",
            "With real weights, one command measures the visual route's quality and speed too:", "", "```sh",
            "vidseek models export openai/clip-vit-base-patch32 -o ~/models/clip-b32 --quantize",
            "VIDSEEK_VISUAL_MODEL=~/models/clip-b32 python benchmarks/suite.py", "```", ""]


def md_steps(steps: list[Step]) -> list[str]:
    rows = [[s.name, "ok" if s.ok else s.note or f"exit {s.rc}", f"{s.wall_s:.0f}"] for s in steps]
    lines = ["## Steps", "", "Logs: `--work`/logs/.", ""] + table(["step", "result", "wall s"], rows)
    for s in steps:
        if s.tail and not s.ok:
            lines += [f"### Failure: {s.name} (exit {s.rc})", "", "```", s.command(), "...", s.tail.rstrip(), "```", ""]
    return lines


def markdown(args: argparse.Namespace, steps: list[Step], started: datetime, wall: float, load: float) -> str:
    mode = " (`--quick`: reduced sizes, not the reference figures)" if args.quick else ""
    head = ["# vidseek benchmarks", "",
            f"Generated {started:%Y-%m-%d %H:%M %Z} by `{shlex.join(['python', 'benchmarks/suite.py', *args.argv])}`"
            f" in {wall / 60:.0f} min{mode}. Commands run from the repository root with the virtualenv active.", "",
            "## Machine and versions", ""]
    m = machine() | {"load average (1 min) at start / end": f"{load:.2f} / {os.getloadavg()[0]:.2f}"}
    head += table(["machine", ""], [[k, v] for k, v in m.items()])
    head += table(["software", "version"], [[k, v] for k, v in versions().items()])
    by, body = {s.name: s for s in steps}, md_notes(args.visual_model)
    if corpora := [c for c in (QUICK if args.quick else FULL)["corpora"] if f"eval {c}" in by]:
        body += ["## Search quality (`vidseek eval`, generated corpus)", ""]
        for c in corpora:
            body += md_quality(by[f"corpus {c}"], by[f"eval {c}"], c)
    body += md_index(by["index"]) if "index" in by else []
    if queries := [s for s in steps if s.name.startswith("query ")]:
        body += md_query(queries)
    body += md_load([by["load"], by["load idle"]]) if "load" in by else []
    return "\n".join(head + body + md_steps(steps)).rstrip() + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="reduced sizes: tiny corpus, 2k/10k segments, 5 s levels")
    p.add_argument("--only", default=",".join(PARTS), help=f"comma list of parts: {', '.join(PARTS)}")
    p.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md", help="the Markdown report")
    p.add_argument("--work", type=Path, default=Path("~/.cache/vidseek-bench/suite"), help="JSON, logs, corpora")
    p.add_argument("--cache", type=Path, default=Path("~/.cache/vidseek-bench"),
                   help="models, bench videos, load.py data dirs (bench.py --work, load.py --cache)")
    p.add_argument("--visual-model", default=os.environ.get("VIDSEEK_VISUAL_MODEL"),
                   help="exported visual model folder (default $VIDSEEK_VISUAL_MODEL; else random / tiny CLIP)")
    p.add_argument("--build-tiny-clip", type=Path, default=None, metavar="DIR",
                   help="only build the tests' tiny CLIP into DIR (cached), for the quality step")
    args = p.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}
    if args.only - set(PARTS):
        p.error(f"unknown part(s) {sorted(args.only - set(PARTS))}; choose from {', '.join(PARTS)}")
    args.work, args.cache = args.work.expanduser().resolve(), args.cache.expanduser().resolve()
    if args.visual_model:
        args.visual_model = str(Path(args.visual_model).expanduser().resolve())
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.build_tiny_clip:
        return build_tiny_clip(args.build_tiny_clip)
    started, t0, load = datetime.now().astimezone(), time.perf_counter(), os.getloadavg()[0]
    (args.work / "logs").mkdir(parents=True, exist_ok=True)
    steps = plan(args)
    print(f"vidseek suite: {len(steps)} steps ({', '.join(s.name for s in steps)}); work {args.work}", flush=True)
    try:
        for step in steps:
            if step.name.startswith(("eval ", "corpus ")):  # fresh: the corpus is rebuilt, the eval indexes it all
                shutil.rmtree(step.json.parent, ignore_errors=True)
            run(step, args.work / "logs")
    except KeyboardInterrupt:
        print("\ninterrupted: writing what was measured", flush=True)
        for s in steps:
            s.note = s.note or ("interrupted" if s.rc is None else "")
    wall = time.perf_counter() - t0
    (args.work / "suite.json").write_text(json.dumps([{"name": s.name, "command": s.command(), "rc": s.rc,
                                                        "wall_s": round(s.wall_s, 1), "note": s.note}
                                                       for s in steps], indent=1))
    args.out.write_text(markdown(args, steps, started, wall, load))
    print(f"\nsuite finished in {wall / 60:.1f} min: " + ", ".join(
        f"{s.name} {'ok' if s.ok else s.note or f'exit {s.rc}'} {s.wall_s:.0f} s" for s in steps)
        + f"\nwrote {args.out}", flush=True)
    return 0 if all(s.ok for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
