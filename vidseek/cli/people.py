"""`vidseek people` (face clusters: list, name, merge, split) and `vidseek duplicates` (copies).

Both work on the data dir, or through its running server (a `vidseek serve` or the resident search
process: its REST API), like `vidseek search`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vidseek.cli.common import DataDir, fail, load_settings, one_line, open_engine, out, through_server
from vidseek.errors import VidseekError

people_app = typer.Typer(help="People: the faces found in your videos, grouped by person.", invoke_without_command=True)

ServerOpt = Annotated[Optional[str], typer.Option(envvar="VIDSEEK_SERVER", help="Through this vidseek server URL")]  # noqa: UP045
KeyOpt = Annotated[Optional[str], typer.Option(envvar="VIDSEEK_API_KEY", help="Key for --server")]  # noqa: UP045


def person_dict(p: Any) -> dict:
    cover = p.cover
    return {"id": p.id, "name": p.name, "faces": p.faces, "videos": p.videos,
            "cover": {"face_id": cover.id, "video_id": cover.video_id, "time": round(cover.time, 2),
                      "crop": cover.crop, "thumbnail": cover.thumbnail} if cover else None}


def _run(data_dir: Path | None, server: str | None, key: str | None,
         local: Callable[[Any], Any], remote: Callable[[Any], Any]) -> Any:
    """`remote(client)` through --server or the data dir's running server (a `vidseek serve`, or the
    resident search process), else `local(tenant)` on the data dir."""
    try:
        settings = load_settings(data_dir)
        found = through_server(settings, server, key, lambda c: (remote(c),))
        if found is not None:
            return found[0]
        with open_engine(data_dir) as engine:
            return local(engine.tenant())
    except VidseekError as exc:
        fail(exc)


def _print_people(people: list[dict], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(people, ensure_ascii=False))
        return
    if not people:
        out.print("no faces found yet: `vidseek index` finds them (the face route needs dlib: "
                  "pip install \"vidseek[faces]\")")
    for p in people:
        name = one_line(p["name"]) if p["name"] else "[dim](no name)[/dim]"
        n_faces, n_videos = p["faces"], p["videos"]
        line = (f"{p['id']:>5}  {name:<24} {n_videos} video{'s' * (n_videos != 1)}, "
                f"{n_faces} moment{'s' * (n_faces != 1)}")
        cover = p.get("cover") or {}
        if cover.get("crop"):
            line += f"  [dim]{one_line(cover['crop'])}[/dim]"
        out.print(line, highlight=False)


@people_app.callback()
def people_list(ctx: typer.Context, data_dir: DataDir = None, server: ServerOpt = None, api_key: KeyOpt = None,
                as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """People found in your videos: id, name, how many videos and moments, and a face picture."""
    if ctx.invoked_subcommand is not None:
        return
    people = _run(data_dir, server, api_key, lambda t: [person_dict(p) for p in t.people()],
                  lambda c: c.get("/api/people"))
    _print_people(people, as_json)


@people_app.command("name")
def people_name(person_id: Annotated[int, typer.Argument(help="Id from `vidseek people`")],
                name: Annotated[str, typer.Argument(help='The name; "" forgets it')],
                data_dir: DataDir = None, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Name a person; then a text query that mentions the name ("Alice at the beach") finds them by face."""
    p = _run(data_dir, server, api_key, lambda t: person_dict(t.name_person(person_id, name)),
             lambda c: c._call("PATCH", f"/api/people/{person_id}", json={"name": name}))
    out.print(f"person {p['id']} is now {one_line(p['name']) if p['name'] else 'unnamed'}", highlight=False)


@people_app.command("merge")
def people_merge(person_id: Annotated[int, typer.Argument(help="The person to keep")],
                 others: Annotated[list[int], typer.Argument(help="People who are the same person")],
                 data_dir: DataDir = None, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Merge people the clustering kept apart into one (their faces and name move to the first)."""
    p = _run(data_dir, server, api_key, lambda t: person_dict(t.merge_people(person_id, others)),
             lambda c: c.post(f"/api/people/{person_id}/merge", {"people": others}))
    out.print(f"person {p['id']}: {p['videos']} videos, {p['faces']} moments", highlight=False)


@people_app.command("split")
def people_split(person_id: Annotated[int, typer.Argument(help="A person who is really two")],
                 data_dir: DataDir = None, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Split a person in two when the clustering mixed up two people's faces."""
    both = _run(data_dir, server, api_key, lambda t: [person_dict(p) for p in t.split_person(person_id)],
                lambda c: c.post(f"/api/people/{person_id}/split"))
    _print_people(both, as_json=False)


def duplicates_command(
    library: Annotated[Optional[str], typer.Option("--library", "-l", help="Only this library")] = None,  # noqa: UP045
    data_dir: DataDir = None, server: ServerOpt = None, api_key: KeyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Groups of near-identical videos (re-uploads, copies, re-cuts) and the segments they share."""

    def local(tenant: Any) -> list[dict]:
        lib = tenant.library(library).id if library else None
        return [g.to_dict() for g in tenant.duplicates(lib)]

    def remote(client: Any) -> list[dict]:
        lib = client.library_id(library) if library else None
        groups = client.get("/api/duplicates", library_id=lib)["groups"]
        for g in groups:  # the server names files, it does not show its paths
            g["videos"] = [{"video_id": v["video_id"], "path": v["name"]} for v in g["videos"]]
        return groups

    groups = _run(data_dir, server, api_key, local, remote)
    if server is None:  # a server on this machine's data dir named the files: its catalog has their paths
        from vidseek.store.catalog import catalog_target, read_paths

        files, _ = read_paths(catalog_target(load_settings(data_dir)),
                              (v["video_id"] for g in groups for v in g["videos"]))
        for g in groups:
            for v in g["videos"]:
                v["path"] = files.get(int(v["video_id"]), v["path"])
    if as_json:
        out.print_json(json.dumps({"groups": groups}, ensure_ascii=False))
        return
    if not groups:
        out.print("no copies: no two indexed videos share picture")
    for i, g in enumerate(groups, 1):
        out.print(f"[bold]group {i}[/bold]: {len(g['videos'])} videos")
        names = {v["video_id"]: v["path"] for v in g["videos"]}
        for v in g["videos"]:
            out.print(f"  {v['video_id']:>5}  {one_line(v['path'])}", highlight=False)
        for s in g["shared"]:
            mirrored = ", mirrored" if s["mirrored"] else ""
            out.print(f"      {Path(names[s['a']]).name} {s['a_start']:.1f}-{s['a_end']:.1f} s = "
                      f"{Path(names[s['b']]).name} {s['b_start']:.1f}-{s['b_end']:.1f} s "
                      f"(score {s['score']:.2f}{mirrored})", markup=False, highlight=False)
