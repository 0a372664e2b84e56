#!/usr/bin/env python
"""Whole-process wall time of `vidseek index FOLDER` when nothing in FOLDER changed (a no-op re-index).

    python benchmarks/noop_reindex.py                          # shared clips + 10,000 files, 5 runs each
    python benchmarks/noop_reindex.py --files 300 --runs 3     # quick smoke run
    python benchmarks/noop_reindex.py --only shared --json /tmp/noop.json

Targets (issue): <= 1 s for the shared clips (../shared/media, 20 media files), <= 10 s for 10,000
unchanged files. Every run is a fresh `vidseek index` process, as a user in a terminal starts it,
with VIDSEEK_* stripped from the environment and VIDSEEK_RESIDENT_IDLE=0, NO_COLOR=1,
VIDSEEK_ROUTES=speech,ocr,title (the one-time index and the no-op runs use the same environment).

- shared: ../shared/media is indexed for real once into a fresh data dir under --cache (cached
  with a marker file), then timed --runs times; each run must report "unchanged N" (N = the media
  files the scanner finds there) and nothing indexed, updated or failed.
- files: indexing 10,000 real files would take hours, so the catalog is built as a real index
  leaves it: one small generated clip (1.5 s, silent, one coloured scene) is indexed for real with
  `vidseek index`, then --files - 1 hard links to it are made in --subdirs folders (same size and
  mtime), and the real file's catalog rows (`videos`, and every side table keyed by video_id:
  shots, faces, fingerprints) are copied for each link with only the path and id changed (shot
  thumbnails are hard-linked into the new id's folder). The copies have no Milvus rows, which a
  no-op run never reads. One untimed check run must report "unchanged N" and "indexed 0" before
  the tree is marked built; a second run of this script reuses it.

`vidseek index --help` is timed too, as the floor any `vidseek index` pays (interpreter + CLI imports).
With --profile, one more no-op run of the largest case goes under cProfile and its top functions
are printed. Not a test: a shared machine is noisy; the load average is printed with each section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.bench import table  # noqa: E402

TARGET_SHARED_S = 1.0
TARGET_FILES_S = 10.0
TARGET_FILES = 10_000
ROUTES = "speech,ocr,title"
MARKER = "noop-built.json"
REPORT = re.compile(r"indexed (\d+), updated (\d+), unchanged (\d+), failed (\d+)")


# --------------------------------------------------------------------------------- running vidseek


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSEEK_")}
    env.update(VIDSEEK_RESIDENT_IDLE="0", NO_COLOR="1", VIDSEEK_ROUTES=ROUTES,
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return env


def vidseek_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("vidseek")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "vidseek.cli"]


def vidseek(args: list[str], env: dict[str, str], timeout: float = 3600,
            nice: bool = False) -> tuple[float, subprocess.CompletedProcess]:
    """Run `vidseek ARGS` to the end; (whole-process wall seconds, the finished process).

    `nice`: at the lowest priority (the untimed one-time indexing, so that it disturbs others less)."""
    t0 = time.perf_counter()
    done = subprocess.run([*vidseek_cmd(), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=(lambda: os.nice(19)) if nice else None)
    return time.perf_counter() - t0, done


def counts(done: subprocess.CompletedProcess) -> dict[str, int]:
    """The `indexed I, updated U, unchanged N, failed F` line of `vidseek index`'s stderr."""
    m = REPORT.search(done.stderr)
    if m is None:
        raise RuntimeError(f"no report line in vidseek index's stderr (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return dict(zip(("indexed", "updated", "unchanged", "failed"), map(int, m.groups())))


def check_noop(done: subprocess.CompletedProcess, expected: int, what: str) -> dict[str, int]:
    c = counts(done)
    if done.returncode != 0 or c != {"indexed": 0, "updated": 0, "unchanged": expected, "failed": 0}:
        raise RuntimeError(f"{what}: not a no-op run (exit {done.returncode}, expected unchanged {expected}): "
                           f"{c}\nstderr:\n{done.stderr[-3000:]}")
    return c


def timed_noops(label: str, folders: list[Path], data: Path, env: dict[str, str], expected: int,
                runs: int) -> dict[str, Any]:
    """`runs` no-op `vidseek index FOLDERS` processes; each must report `unchanged expected`."""
    args = ["index", *map(str, folders), "-d", str(data)]
    print(f"[{label}] {runs} no-op runs of: vidseek {shlex.join(args)}", flush=True)
    times, loads = [], []
    line = ""
    for i in range(runs):
        loads.append(round(os.getloadavg()[0], 2))
        took, done = vidseek(args, env)
        check_noop(done, expected, f"{label} run {i + 1}")
        line = REPORT.search(done.stderr).group(0)
        times.append(took)
        print(f"  run {i + 1}: {took:.3f} s  ({line}; load1 {loads[-1]:.2f})", flush=True)
    med = statistics.median(times)
    print(f"  median {med:.3f} s, min {min(times):.3f} s, max {max(times):.3f} s", flush=True)
    return {"files": expected, "times_s": times, "median_s": med, "min_s": min(times), "max_s": max(times),
            "report_line": line, "load1_before_runs": loads, "command": shlex.join(["vidseek", *args])}


def print_loadavg(label: str) -> list[float]:
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"  loadavg {label}: {' '.join(f'{x:.2f}' for x in load)} ({os.cpu_count()} cpus)", flush=True)
    return load


# --------------------------------------------------------------------------------- shared clips


def media_files(folder: Path) -> list[Path]:
    """The files `vidseek index FOLDER` picks (its own scanner: video and audio extensions)."""
    from vidseek.index.scan import scan

    files, problems = scan([folder])
    if problems:
        raise SystemExit(f"{folder}: {problems}")
    return files


def prepare_shared(cache: Path, media: Path, env: dict[str, str]) -> tuple[Path, int, dict[str, Any]]:
    """A data dir with `media` indexed for real (once; reused while its marker matches)."""
    files = media_files(media)
    by_ext: dict[str, int] = {}
    for f in files:
        by_ext[f.suffix.lower()] = by_ext.get(f.suffix.lower(), 0) + 1
    print(f"[shared] {media}: {len(files)} media files ("
          + ", ".join(f"{n} {ext}" for ext, n in sorted(by_ext.items())) + ")", flush=True)
    data = cache / "noop-shared"
    marker = data / MARKER
    want = {"media": str(media), "files": sorted(map(str, files)), "routes": ROUTES}
    if marker.exists():
        info = json.loads(marker.read_text())
        if {k: info.get(k) for k in want} == want:
            print(f"  reusing {data} (indexed once in {info['index_s']:.0f} s)", flush=True)
            return data, len(files), info
    shutil.rmtree(data, ignore_errors=True)
    print(f"  indexing them once into {data} (routes {ROUTES}; cached) ...", flush=True)
    took, done = vidseek(["index", str(media), "-d", str(data)], env, nice=True)
    c = counts(done)
    if done.returncode != 0 or c["failed"] or c["indexed"] != len(files):
        raise RuntimeError(f"one-time index of {media} did not index every file: {c}\n{done.stderr[-3000:]}")
    print(f"  indexed {c['indexed']} in {took:.0f} s", flush=True)
    info = {**want, "index_s": took, "index_report": REPORT.search(done.stderr).group(0)}
    marker.write_text(json.dumps(info, indent=1))
    return data, len(files), info


# --------------------------------------------------------------------------------- 10,000 files


def side_tables(db: sqlite3.Connection) -> dict[str, list[str]]:
    """Tables with a video_id column (besides `videos`), each with the columns to copy (no own AUTOINCREMENT id).

    `jobs` is left out: it is the server's queue (a job names a video it indexed), not the video's data."""
    out = {}
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
                              "('videos', 'jobs') AND name NOT LIKE 'sqlite_%'"):
        info = db.execute(f"PRAGMA table_info({name})").fetchall()
        cols = [r[1] for r in info]
        if "video_id" not in cols:
            continue
        pk = [r for r in info if r[5]]  # a lone INTEGER PRIMARY KEY is the rowid: the copy gets a new one
        own_id = pk[0][1] if len(pk) == 1 and pk[0][2].upper() == "INTEGER" and pk[0][1] != "video_id" else None
        out[name] = [c for c in cols if c != own_id]
    return out


def copy_rows(data: Path, real: Path, links: list[Path]) -> dict[str, Any]:
    """Give every hard link the catalog rows the real file's index left, with only path and id changed."""
    db = sqlite3.connect(data / "catalog.sqlite", isolation_level=None)
    db.row_factory = sqlite3.Row
    try:
        src = db.execute("SELECT * FROM videos WHERE path = ?", (str(real),)).fetchall()
        if len(src) != 1 or src[0]["status"] != "done":
            raise RuntimeError(f"the real file's row in {data}/catalog.sqlite is missing or not done: "
                               f"{[dict(r) for r in src]}")
        row = dict(src[0])
        vcols = [c for c in row if c != "id"]
        tables = side_tables(db)
        side = {t: [dict(r) for r in db.execute(f"SELECT * FROM {t} WHERE video_id = ?", (row["id"],))]
                for t in tables}
        if side.get("faces"):  # a face row's id is its Milvus key and points at a person: not copied blindly
            raise RuntimeError("the seed clip has face rows; this benchmark's routes should give none")
        old_thumbs = data / "thumbnails" / str(row["id"])
        db.execute("BEGIN")
        for link in links:
            vid = db.execute(f"INSERT INTO videos ({', '.join(vcols)}) VALUES ({', '.join('?' * len(vcols))})",
                             [str(link) if c == "path" else row[c] for c in vcols]).lastrowid
            new_thumbs = data / "thumbnails" / str(vid)
            for t, rows in side.items():
                cols = tables[t]
                for r in rows:
                    values = []
                    for c in cols:
                        v = r[c]
                        if c == "video_id":
                            v = vid
                        elif c == "thumbnail" and v:
                            old = Path(v)
                            if old.parent != old_thumbs:
                                raise RuntimeError(f"unexpected thumbnail path {v} (not under {old_thumbs})")
                            new_thumbs.mkdir(parents=True, exist_ok=True)
                            os.link(old, new_thumbs / old.name)
                            v = str(new_thumbs / old.name)
                        values.append(v)
                    db.execute(f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
        db.execute("COMMIT")
        return {"seed_row": {k: v for k, v in row.items() if k != "routes"}, "routes": json.loads(row["routes"]),
                "side_rows_per_video": {t: len(r) for t, r in side.items()}}
    finally:
        db.close()


def prepare_files(cache: Path, n: int, subdirs: int, env: dict[str, str]) -> tuple[Path, Path, dict[str, Any]]:
    """(tree, data dir, info): `n` unchanged files catalogued as done; built once and reused."""
    root = cache / f"noop-files-{n}-{subdirs}"
    tree, data, marker = root / "tree", root / "data", root / MARKER
    if marker.exists():
        info = json.loads(marker.read_text())
        print(f"[files] reusing {root} (built in {info['build_s']:.0f} s)", flush=True)
        return tree, data, info
    shutil.rmtree(root, ignore_errors=True)
    tree.mkdir(parents=True)
    t0 = time.perf_counter()
    print(f"[files] building {n:,} files in {subdirs} folders under {root} (once; cached) ...", flush=True)
    from vidseek.media.synth import Scene, make_video

    real = tree.resolve() / "d000" / "c00000.mp4"  # the path the scanner will give it
    real.parent.mkdir(parents=True)
    make_video(real, [Scene(1.5, (200, 90, 40))], size=(160, 120))
    seed_s, done = vidseek(["index", str(real), "-d", str(data)], env, nice=True)
    c = counts(done)
    if done.returncode != 0 or c["indexed"] != 1:
        raise RuntimeError(f"indexing the seed clip failed: {c}\n{done.stderr[-3000:]}")
    print(f"  seed clip {real} ({real.stat().st_size:,} bytes) indexed for real in {seed_s:.1f} s", flush=True)
    t1 = time.perf_counter()
    links = []
    for i in range(1, n):
        d = tree.resolve() / f"d{i % subdirs:03d}"
        d.mkdir(exist_ok=True)
        link = d / f"c{i:05d}.mp4"
        os.link(real, link)
        links.append(link)
    links_s = time.perf_counter() - t1
    t1 = time.perf_counter()
    rows = copy_rows(data, real, links)
    rows_s = time.perf_counter() - t1
    print(f"  {len(links):,} hard links in {links_s:.1f} s; catalog rows copied in {rows_s:.1f} s "
          f"(per video: {rows['side_rows_per_video']}; routes {json.dumps(rows['routes'])})", flush=True)
    took, done = vidseek(["index", str(tree), "-d", str(data)], env)
    c = check_noop(done, n, "check run after building")
    print(f"  check run: {REPORT.search(done.stderr).group(0)} in {took:.2f} s", flush=True)
    info = {"files": n, "subdirs": subdirs, "seed": str(real), "seed_index_s": seed_s, "check_s": took,
            "links_s": links_s, "rows_s": rows_s, **rows, "check": c, "build_s": time.perf_counter() - t0}
    marker.write_text(json.dumps(info, indent=1, default=str))
    return tree, data, info


# --------------------------------------------------------------------------------- profile


def profile_run(folders: list[Path], data: Path, env: dict[str, str], expected: int, lines: int) -> str:
    """One more no-op run under cProfile; its top functions by cumulative and by own time."""
    import io
    import pstats

    out = Path(tempfile.mkdtemp(prefix="vidseek-noop-prof-")) / "noop.prof"
    args = ["index", *map(str, folders), "-d", str(data)]
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "vidseek.cli", *args], env=env,
                          capture_output=True, text=True, timeout=3600)
    took = time.perf_counter() - t0
    check_noop(done, expected, "profiled run")
    buf = io.StringIO()
    stats = pstats.Stats(str(out), stream=buf)
    buf.write(f"profiled no-op run of {expected:,} files: {took:.2f} s wall under cProfile\n")
    stats.sort_stats("cumulative").print_stats(lines)
    stats.sort_stats("tottime").print_stats(lines)
    shutil.rmtree(out.parent, ignore_errors=True)
    return buf.getvalue()


# --------------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media", help="the shared clips folder")
    p.add_argument("--files", type=int, default=TARGET_FILES, help="unchanged files in the large case")
    p.add_argument("--subdirs", type=int, default=100, help="folders the large case's files are spread over")
    p.add_argument("--runs", type=int, default=5, help="timed no-op runs per case")
    p.add_argument("--only", choices=("shared", "files"), default=None, help="run one case only")
    p.add_argument("--profile", action="store_true", help="one more no-op run of the largest case under cProfile")
    p.add_argument("--profile-lines", type=int, default=25)
    p.add_argument("--cache", type=Path, default=Path("~/.cache/vidseek-bench"), help="data dirs and the file tree")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    cache = args.cache.expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    command = shlex.join([sys.executable, *sys.argv])
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
               "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    print(f"vidseek no-op re-index: {command}\nmachine: {machine['cpus']} cpus, python {machine['python']}, "
          f"loadavg {' '.join(map(str, machine['loadavg_start']))}", flush=True)
    env = bench_env()
    result: dict[str, Any] = {"command": command, "machine": machine, "args": vars(args), "env_set":
                              {k: env[k] for k in ("VIDSEEK_RESIDENT_IDLE", "NO_COLOR", "VIDSEEK_ROUTES")}}
    summary: list[list[Any]] = []

    print("\n[floor] vidseek index --help (interpreter + the typer CLI's imports; no data dir opened)", flush=True)
    helps = [vidseek(["index", "--help"], env)[0] for _ in range(args.runs + 1)][1:]
    result["help"] = {"times_s": helps, "median_s": statistics.median(helps)}
    print(f"  {' '.join(f'{t:.3f}' for t in helps)} s -> median {result['help']['median_s']:.3f} s", flush=True)
    summary.append(["vidseek index --help (floor)", f"{result['help']['median_s']:.3f} s", "", ""])

    largest: tuple[list[Path], Path, int] | None = None
    if args.only in (None, "shared"):
        print()
        result["shared_load_before"] = print_loadavg("before the shared clips")
        media = args.media.expanduser().resolve()
        data, n, info = prepare_shared(cache, media, env)
        res = timed_noops("shared", [media], data, env, n, args.runs)
        res["data_dir"], res["build"] = str(data), info
        result["shared"] = res
        ok = res["median_s"] <= TARGET_SHARED_S
        summary.append([f"no-op index, {n} shared clips (median of {args.runs})", f"{res['median_s']:.3f} s",
                        f"<= {TARGET_SHARED_S:g} s", "PASS" if ok else "FAIL"])
        largest = ([media], data, n)
    if args.only in (None, "files"):
        print()
        result["files_load_before"] = print_loadavg("before the file tree")
        tree, data, info = prepare_files(cache, args.files, args.subdirs, env)
        res = timed_noops("files", [tree], data, env, args.files, args.runs)
        res["data_dir"], res["tree"], res["build"] = str(data), str(tree), info
        result["files"] = res
        target = TARGET_FILES_S * args.files / TARGET_FILES
        ok = res["median_s"] <= target
        note = "" if args.files == TARGET_FILES else f" (scaled: {args.files:,} files)"
        summary.append([f"no-op index, {args.files:,} files (median of {args.runs})", f"{res['median_s']:.3f} s",
                        f"<= {target:g} s{note}", "PASS" if ok else "FAIL"])
        base = result.get("shared", {}).get("median_s") or result["help"]["median_s"]
        base_n = result["shared"]["files"] if "shared" in result else 0
        per_file = (res["median_s"] - base) / max(1, args.files - base_n)
        result["per_file_ms"] = per_file * 1000
        label = "shared-clips" if "shared" in result else "index --help"
        print(f"  per file: ({res['median_s']:.3f} - {base:.3f} s {label} median) / {args.files - base_n:,} = "
              f"{per_file * 1000:.3f} ms", flush=True)
        summary.append([f"  per file (over the {label} median)", f"{per_file * 1000:.3f} ms", "", ""])
        largest = ([tree], data, args.files)

    if args.profile and largest is not None:
        print()
        folders, data, n = largest
        text = profile_run(folders, data, env, n, args.profile_lines)
        result["profile"] = text
        print(text, flush=True)

    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print("\nSUMMARY (whole `vidseek index` processes, nothing changed)")
    table(["figure", "value", "target", "result"], summary)
    print(f"loadavg at start {' '.join(map(str, machine['loadavg_start']))}, at end "
          f"{' '.join(map(str, result['loadavg_end']))} ({machine['cpus']} cpus)")
    print(f"command: {command}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
        print(f"wrote {args.json}")
    return 0 if all(r[3] != "FAIL" for r in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
