"""`vidseek eval`: metrics with known answers, queries-file errors, converters, and one run end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

import vidseek
from vidseek.cli.corpus import import_command
from vidseek.cli.evaluate import eval_command
from vidseek.errors import VidseekError
from vidseek.eval import metrics as M
from vidseek.eval.formats import charades_sta_queries, msrvtt_queries
from vidseek.eval.queries import EvalQuery, QueryFileError, load_queries
from vidseek.eval.report import build_report, check_floors, misses, parse_floors, setting_metrics
from vidseek.eval.runner import EvalRun, Hit, Outcome, QueryResult, VideoMatcher, run_eval
from vidseek.media.synth import Scene, make_video


# metrics -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("a", "b", "expected"), [
    ((0, 4), (2, 6), 2 / 6),          # partial overlap
    ((3, 8.5), (3, 8.5), 1.0),        # identical
    ((0, 10), (2, 4), 0.2),           # containment
    ((0, 2), (2, 4), 0.0),            # touching
    ((0, 2), (5, 9), 0.0),            # disjoint
    ((5, 5), (5, 5), 1.0),            # identical zero-length
    ((3, 3), (0, 10), 0.0),           # a point inside a range
    ((6, 2), (0, 10), 0.0),           # reversed = empty
])
def test_iou(a, b, expected):
    assert M.iou(a, b) == pytest.approx(expected)
    assert M.iou(b, a) == pytest.approx(expected)


def test_video_level_metrics_on_a_hand_made_ranking():
    relevant = {"b.mp4", "c.mp4"}.__contains__
    assert M.first_relevant_rank(["a.mp4", "a.mp4", "a.mp4", "c.mp4"], relevant) == 2  # distinct videos
    assert M.first_relevant_rank(["a.mp4", "d.mp4"], relevant) is None
    ranks = [1, 3, None, 2]
    assert M.recall_at_k(ranks, 1) == 0.25
    assert M.recall_at_k(ranks, 5) == 0.75
    assert M.mrr(ranks) == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert M.median_rank(ranks) == 2.5            # [1, 2, 3, inf]
    assert M.median_rank([1, None, 7]) == 7       # one missing of three: still finite
    assert M.median_rank([1, None]) is None       # half missing: the median is infinite
    assert M.median_rank([4, None, None]) is None
    assert M.recall_at_k([], 1) is None and M.mrr([]) is None and M.median_rank([]) is None


def test_moment_level_uses_the_top1_moment_overall():
    right = {"/v/a.mp4"}.__contains__
    assert M.top1_iou(("/v/a.mp4", 4.0, 9.0), right, (4.0, 9.0)) == 1.0
    assert M.top1_iou(("/v/b.mp4", 4.0, 9.0), right, (4.0, 9.0)) == 0.0   # right range, wrong video
    assert M.top1_iou(None, right, (4.0, 9.0)) == 0.0                      # nothing returned
    ious = [1.0, 0.5, 0.31, 0.0]
    assert M.share_at_least(ious, 0.3) == 0.75
    assert M.share_at_least(ious, 0.5) == 0.5      # exactly at the threshold counts
    assert M.share_at_least(ious, 0.7) == 0.25
    assert M.mean(ious) == pytest.approx(0.4525)


def test_out_of_library_latency_and_summary():
    assert M.no_match_rate([0, 2, 0]) == pytest.approx(2 / 3)
    assert M.no_match_rate([]) is None
    assert M.percentile([10, 20, 30, 40], 50) == 25
    assert M.percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)  # as numpy.percentile
    assert M.percentile([7], 95) == 7 and M.percentile([], 50) is None
    s = M.summarize([1, None], [0.6], [0, 1], [5.0, 15.0, 10.0, 20.0])
    assert (s["R@1"], s["medR"], s["mR@1@0.5"], s["mR@1@0.7"], s["no_match"]) == (0.5, None, 1.0, 0.0, 0.5)
    assert s["p50_ms"] == 12.5 and (s["N_video"], s["N_moment"], s["N_no_match"]) == (2, 1, 2)


# queries file --------------------------------------------------------------------------------
GOOD = {"id": "q1", "query": "red boat", "videos": ["a.mp4"], "start": 1.0, "end": 3.0, "lang": "en",
        "routes": ["ocr"]}


def _queries(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


@pytest.mark.parametrize(("bad", "message"), [
    ("{not json", "not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
    ("[1, 2]", "expected a JSON object, got list"),
    ({"id": "x", "videos": ["a.mp4"]}, 'give "query" text, an "image", or both'),
    ({"id": "x", "query": "  ", "videos": []}, 'give "query" text, an "image", or both'),
    ({"id": "x", "query": 5, "videos": []}, '"query" must be a string or null, got int'),
    ({"id": "x", "query": "a"}, '"videos" must be a list of video paths (an empty list for an out-of-library query)'),
    ({"id": "x", "query": "a", "videos": "a.mp4"}, '"videos" must be a list of video paths'),
    ({"id": "x", "query": "a", "videos": ["a.mp4"], "start": 1}, 'give both "start" and "end" (seconds), or neither'),
    ({"id": "x", "query": "a", "videos": ["a.mp4"], "start": "1", "end": 2}, '"start" must be a number of seconds'),
    ({"id": "x", "query": "a", "videos": ["a.mp4"], "start": 5, "end": 2},
     '"start" must be >= 0 and less than "end" (got 5 .. 2)'),
    ({"id": "x", "query": "a", "videos": [], "start": 1, "end": 2}, '"start"/"end" given for an out-of-library query'),
    ({"id": "x", "query": "a", "videos": [], "routes": ["audio"]},
     "unknown route 'audio' in \"routes\"; choose from visual, speech, ocr, title"),
    ({"id": "x", "image": "missing.jpg", "videos": []}, '"image" file not found: '),
    ({"id": "q1", "query": "a", "videos": []}, "duplicate id 'q1' (first used on line 1)"),
])
def test_query_file_errors_name_the_file_line_and_problem(tmp_path, bad, message):
    path = _queries(tmp_path, GOOD, bad)
    with pytest.raises(QueryFileError) as err:
        load_queries(path)
    assert str(err.value).startswith(f"{path}:2: {message}")


def test_query_file_good_lines(tmp_path):
    Image.new("RGB", (8, 8), "red").save(tmp_path / "pic.png")
    path = _queries(tmp_path, GOOD, "", {"query": None, "image": "pic.png", "videos": [], "extra": 1})
    q1, q2 = load_queries(path)
    assert (q1.id, q1.text, q1.start, q1.end, q1.tags, q1.in_library, q1.has_moment) == (
        "q1", "red boat", 1.0, 3.0, ["ocr"], True, True)
    assert q2.id == "L3" and q2.image == tmp_path / "pic.png" and not q2.in_library and q2.extra == {"extra": 1}
    with pytest.raises(QueryFileError, match="no such queries file"):
        load_queries(tmp_path / "nope.jsonl")
    with pytest.raises(QueryFileError, match="no queries in the file"):
        load_queries(_queries(tmp_path, ""))


def test_video_matcher_prefers_the_resolved_path_then_the_suffix(tmp_path):
    m = VideoMatcher(["/elsewhere/set/harbour/boat.mp4", str(tmp_path / "a.mp4")], tmp_path)
    assert m.targets("a.mp4") == {str(tmp_path / "a.mp4")}
    assert m.targets("harbour/boat.mp4") == {"/elsewhere/set/harbour/boat.mp4"}   # indexed under another root
    assert m.targets("boat.mp4") == {"/elsewhere/set/harbour/boat.mp4"}
    assert m.targets("our/boat.mp4") == set()   # suffixes match on folder boundaries only
    assert m.targets("missing.mp4") == set()


# report: misses, n/a, floors -----------------------------------------------------------------
def _run() -> EvalRun:
    hit = Hit("/v/b.mp4", 1.0, 4.0, 0.8, ["ocr"], [{"route": "ocr", "score": 0.8, "start": 1, "end": 4,
                                                     "text": "red boot"}])
    qa = EvalQuery("a", "red boat", ["a.mp4"], start=1.0, end=4.0, lang="en", tags=["ocr"])
    qb = EvalQuery("b", "nothing", [], lang="en")
    qc = EvalQuery("c", None, ["a.mp4"], image=Path("/pic.png"), lang="zh")
    results = [
        QueryResult(qa, {"fused": Outcome("fused", rank=2, iou=0.0, latency_ms=3, total=2, returned=[hit]),
                         "ocr": Outcome("ocr", rank=1, iou=0.5, latency_ms=2, total=1)}),
        QueryResult(qb, {"fused": Outcome("fused", latency_ms=1, total=1, returned=[hit]),
                         "ocr": Outcome("ocr", latency_ms=1)}),
        QueryResult(qc, {"fused": Outcome("fused", rank=1, latency_ms=5, total=1),
                         "ocr": Outcome("ocr", status="n/a")}),
    ]
    config = {"videos": 2, "min_score": 0.3}
    return EvalRun(results, ["fused", "ocr"], config)


def test_report_counts_na_apart_and_lists_misses():
    run = _run()
    ocr = setting_metrics(run.results, "ocr")
    assert (ocr["N"], ocr["n_a"], ocr["R@1"], ocr["mR@1@0.5"], ocr["no_match"]) == (2, 1, 1.0, 1.0, 1.0)
    fused = setting_metrics(run.results, "fused")
    assert (fused["R@1"], fused["MRR"], fused["no_match"], fused["N"]) == (0.5, 0.75, 0.0, 3)
    rows = misses(run.results)
    assert [m["id"] for m in rows] == ["a", "b"]
    assert rows[0]["expected"] == {"videos": ["a.mp4"], "start": 1.0, "end": 4.0}
    assert rows[0]["top"][0]["evidence"] == ["ocr 0.80: red boot"] and rows[1]["expected"] == "no match"
    report = build_report(run)
    assert set(report["breakdown"]["lang"]) == {"en", "zh"} and set(report["breakdown"]["routes"]) == {
        "ocr", "untagged"}
    assert report["queries"][2]["results"]["ocr"] == {"status": "n/a"}


def test_floors():
    report = build_report(_run())
    floors = parse_floors(["fused.R@1=0.5", "ocr.mR@1@0.5=0.9", "fused.no_match=0.8", "speech.R@1=0.1",
                           "ocr@ocr.R@1=1", "fused@visual.R@1=0.5"])
    assert check_floors(report, floors) == [
        "fused.no_match = 0.000, below the floor 0.8",
        "speech.R@1: not measured (the speech route is not indexed) — floor 0.1",
        "fused@visual.R@1: not measured (no query of that kind) — floor 0.5",
    ]
    for spec, why in [("fused.R@1", r"write SETTING\[@TAG\]\.METRIC=VALUE"), ("audio.R@1=1", "unknown setting 'audio'"),
                      ("fused.p95_ms=100", "unknown metric 'p95_ms' (higher must be better)"),
                      ("fused.R@1=high", "'high' is not a number")]:
        with pytest.raises(VidseekError, match=why.replace("(", r"\(").replace(")", r"\)")):
            parse_floors([spec])


# converters ----------------------------------------------------------------------------------
def _videos(folder: Path, *names: str) -> Path:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")
    return folder


def test_msrvtt_from_the_jsfusion_csv_and_a_caption_json(tmp_path):
    videos = _videos(tmp_path / "MSRVTT" / "videos", "all/video7.mp4", "all/video9.mp4", "all/video3.mp4")
    csv_file = tmp_path / "MSRVTT_JSFUSION_test.csv"
    csv_file.write_text("key,vid_key,video_id,sentence\nret0,msr7,video7,a man drives a car\n"
                        "ret1,msr9,video9,a cat plays piano\nret2,msr8,video8,gone video\n")
    conv = msrvtt_queries(videos, [csv_file])
    assert conv.queries[0] == {"id": "ret0", "query": "a man drives a car", "videos": ["all/video7.mp4"],
                               "lang": "en", "routes": ["visual"]}
    assert len(conv.queries) == 2 and conv.missing_videos == ["video8"]
    captions = tmp_path / "MSRVTT_data.json"
    captions.write_text(json.dumps({
        "videos": [{"video_id": v, "split": s} for v, s in [("video3", "train"), ("video7", "test"),
                                                             ("video9", "test")]],
        "sentences": [{"video_id": "video9", "caption": "cat at a piano"}, {"video_id": "video3", "caption": "x"},
                      {"video_id": "video7", "caption": "car on a road"}, {"video_id": "video7", "caption": "driving"}],
    }))
    both = msrvtt_queries(videos, [csv_file, captions], relative_to=tmp_path)
    assert [(q["query"], q["videos"][0]) for q in both.queries] == [   # the CSV's videos, in CSV order
        ("car on a road", "MSRVTT/videos/all/video7.mp4"), ("driving", "MSRVTT/videos/all/video7.mp4"),
        ("cat at a piano", "MSRVTT/videos/all/video9.mp4")]
    alone = msrvtt_queries(videos, [captions], max_queries=2)     # the JSON's test split
    assert [q["query"] for q in alone.queries] == ["car on a road", "driving"]
    with pytest.raises(VidseekError, match="expected a CSV with columns key,vid_key,video_id,sentence"):
        bad = tmp_path / "bad.csv"
        bad.write_text("a,b\n1,2\n")
        msrvtt_queries(videos, [bad])


def test_charades_sta(tmp_path):
    videos = _videos(tmp_path / "Charades_v1_480", "3MSZA.mp4", "AO8RW.mp4")
    ann = tmp_path / "charades_sta_test.txt"
    ann.write_text("3MSZA 24.3 30.4##person turn a light on.\nAO8RW 0.0 6.9##a person is putting a book on a shelf.\n"
                   "ZZZZZ 1 2##not in the folder\nAO8RW 5 5##empty\n")
    conv = charades_sta_queries(videos, [ann])
    assert conv.queries[0] == {"id": "3MSZA-1", "query": "person turn a light on.", "start": 24.3, "end": 30.4,
                               "videos": ["3MSZA.mp4"], "lang": "en", "routes": ["visual"]}
    assert len(conv.queries) == 2 and conv.missing_videos == ["ZZZZZ"]
    assert conv.skipped_lines == [f"{ann}:4: empty moment 5.0..5.0"]
    ann.write_text("3MSZA 24.3 30.4 person turn a light on.\n")
    with pytest.raises(VidseekError, match=r"charades_sta_test.txt:1: expected 'VIDEO_ID START END##sentence'"):
        charades_sta_queries(videos, [ann])


def test_import_command_writes_a_queries_file_eval_accepts(tmp_path):
    videos = _videos(tmp_path / "Charades", "3MSZA.mp4")
    ann = tmp_path / "sta.txt"
    ann.write_text("3MSZA 1.5 4##person opens a door\n")
    app = typer.Typer()
    app.command()(import_command)
    out = tmp_path / "bench" / "charades.jsonl"
    done = CliRunner().invoke(app, ["charades-sta", str(ann), "--videos", str(videos), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "wrote 1 queries" in done.output
    (q,) = load_queries(out)
    assert q.videos == ["../Charades/3MSZA.mp4"] and (q.start, q.end) == (1.5, 4.0)
    done = CliRunner().invoke(app, ["youcook", str(ann), "--videos", str(videos)])
    assert done.exit_code == 2 and "unknown format 'youcook'; choose from msrvtt, charades-sta" in done.output


# end to end ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Three videos with on-screen text, indexed (ocr + title only, no visual model), and a queries file."""
    root = tmp_path_factory.mktemp("eval")
    lib = root / "media"
    make_video(lib / "clip_a.mp4", [Scene(4, (0, 0, 0)), Scene(5, (250, 245, 230), text="Lighthouse Keeper Diary"),
                                    Scene(3, (0, 0, 0))], size=(480, 270))
    make_video(lib / "clip_b.mp4", [Scene(3, (20, 40, 160), text="Night Market Noodles"), Scene(5, (0, 0, 0))],
               size=(480, 270))
    make_video(lib / "clip_c.mp4", [Scene(4, (30, 120, 60), text="Robot Factory Visit"), Scene(4, (0, 0, 0))],
               size=(480, 270))
    queries = _queries(root, {"id": "light", "query": "lighthouse keeper diary", "videos": ["media/clip_a.mp4"],
                              "start": 4.0, "end": 9.0, "lang": "en", "routes": ["ocr"]},
                       {"id": "market", "query": "night market noodles", "videos": ["media/clip_b.mp4"],
                        "start": 0.0, "end": 3.0, "lang": "en", "routes": ["ocr"]},
                       {"id": "zebra", "query": "quantum zebra orchestra", "videos": [], "lang": "en"})
    data = root / "data"
    settings = {"visual_model": str(data / "no-such-model"), "routes": "ocr,title"}
    with vidseek.open(data, **settings) as engine:
        assert engine.index([lib]).count("indexed") == 3
    return root, queries, data, settings


def test_runner_measures_what_the_index_can_answer(bench):
    root, queries, data, settings = bench
    picture = root / "pic.png"
    Image.new("RGB", (16, 16), "blue").save(picture)
    image_query = EvalQuery("pic", None, [], image=picture)
    with vidseek.open(data, **settings) as engine:
        run = run_eval(engine, [*load_queries(queries), image_query], media_root=root)
    assert run.settings == ["fused", "lexical", "semantic", "ocr", "title"]  # text matching ablated too
    report = build_report(run)
    ocr, fused, title = (report["metrics"][s] for s in ("ocr", "fused", "title"))
    assert (ocr["R@1"], ocr["MRR"], ocr["medR"], ocr["mR@1@0.5"], ocr["no_match"]) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert ocr["N"] == 3 and ocr["n_a"] == 1          # the image-only query is n/a on a text route
    assert (fused["R@1"], fused["no_match"], fused["N"]) == (1.0, 1.0, 4)
    assert fused["mIoU"] > 0.7 and fused["p50_ms"] > 0
    assert title["R@1"] == 0.0                        # file names say nothing about the text
    top = run.results[0].outcomes["fused"].returned[0]
    assert top.name == "clip_a.mp4" and "lighthouse" in top.evidence[0]["text"].lower()
    assert report["misses"] == [] and report["settings"]["routes_indexed"] == ["ocr", "title"]
    assert any("not indexed, so not evaluated alone: visual, speech" in w for w in report["warnings"])


def test_eval_command_writes_the_report_and_enforces_floors(bench, monkeypatch):
    root, queries, data, settings = bench
    monkeypatch.setenv("VIDSEEK_VISUAL_MODEL", settings["visual_model"])
    monkeypatch.setenv("VIDSEEK_ROUTES", settings["routes"])
    app = typer.Typer()
    app.command()(eval_command)
    out = root / "out"
    args = [str(queries), "-d", str(data), "--index", str(root / "media"), "--out", str(out)]
    done = CliRunner().invoke(app, [*args, "--fail-under", "ocr.R@1=1", "--fail-under", "fused.no_match=1"])
    assert done.exit_code == 0, done.output
    assert "fused" in done.output and "mR@1 .5" in done.output and "misses (fused): 0 of 3" in done.output
    assert "0 indexed, 0 updated, 3 unchanged, 0 failed" in done.output   # --index is incremental
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["ocr"]["R@1"] == 1.0 and len(report["queries"]) == 3
    assert report["settings"]["min_score"] == 0.3 and report["settings"]["vidseek"] == vidseek.__version__
    with Image.open(out / "chart.png") as png:
        assert png.size == (1400, 560) and png.format == "PNG"
    assert (out / "misses.md").read_text().startswith("# Misses (fused): 0")
    done = CliRunner().invoke(app, [*args, "--json", "--fail-under", "title.R@1=0.5", "--fail-under",
                                    "visual.R@1=0.2"])
    assert done.exit_code == 1
    assert "floor failed: title.R@1 = 0.000, below the floor 0.5" in done.output
    assert "floor failed: visual.R@1: not measured (the visual route is not indexed)" in done.output
    done = CliRunner().invoke(app, [*args, "--fail-under", "fused.R@1"])
    assert done.exit_code == 2 and "write SETTING[@TAG].METRIC=VALUE" in done.output
    assert not math.isnan(report["metrics"]["fused"]["mIoU"])
