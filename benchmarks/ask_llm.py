"""`vidseek ask` against a real OpenAI-compatible LLM server: plan acceptance, time to answer, determinism.

    ../shared/tools/local-llm install        # llama-cpp-python[server] + Qwen2.5-Coder-0.5B-Instruct Q4 (once)
    ../shared/tools/local-llm serve &        # http://127.0.0.1:18921/v1
    python benchmarks/ask_llm.py --llm http://127.0.0.1:18921/v1 [--json out.json]

It indexes a small library of on-screen-text clips (OCR and title routes: no ASR, ~1 s a clip), then
asks each question of QUESTIONS three ways, side by side in one run:

- before: the plan asked with the prompt alone (no response_format) for every question, and no
  temperature sent (the server's default applies), as vidseek did before;
- always: structured output negotiated with the server, temperature 0, the plan asked for every question;
- auto:   the defaults (VIDSEEK_LLM_PLAN=auto: no plan call for a short one-step question).

For each it prints how many plans were used in full, used with fields dropped, or rejected; the
median and total time to answer; and, for --repeat questions asked again, whether the answer came
back the same. Not a test: it needs the real server, which CI does not have.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import vidseek
from vidseek.analyze import llm as llm_module
from vidseek.analyze.llm import ChatClient
from vidseek.answer.ask import Asker
from vidseek.media.synth import Scene, make_video

FACTS = {
    "harbour_notes": "The night ferry leaves pier seven at nine.",
    "port_guide": "Reminder: the night ferry leaves pier seven at nine o'clock",
    "old_timetable": "The night ferry leaves pier seven at ten.",
    "garden_show": "Water the tomatoes every morning before eight",
    "bakery_tour": "Knead the dough for ten minutes, then rest it one hour",
    "museum_hours": "The museum opens at ten and closes at six on Sundays",
    "ferry_zh": "夜班渡轮九点从七号码头出发",
    "bakery_zh": "面团要揉十分钟再发酵一小时",
}
QUESTIONS = [
    "When does the night ferry leave?",
    "How long should I knead the dough?",
    "When does the museum close on Sunday?",
    "When should I water the tomatoes?",
    "夜班渡轮几点出发？",
    "面团要揉多久？",
    "In the videos added this week, which pier does the night ferry leave from and at what time?",
    "Find the bakery video, and then tell me how long the dough rests after kneading.",
    "In the harbour_notes video, when does the ferry leave?",
    "Compare the ferry times in the port guide and the old timetable: do they agree?",
    "在最近添加的视频里，面团揉好以后要发酵多久？",
    "Which videos longer than three seconds talk about the museum, and when does it open?",
]


def build_library(root: Path) -> Path:
    lib = root / "videos"
    for name, text in FACTS.items():
        make_video(lib / f"{name}.mp4", [Scene(2, (40, 40, 60)), Scene(4, (235, 235, 225), text=text)])
    return lib


def run_mode(engine, url: str, model: str, mode: str, questions: list[str], repeat: int) -> dict:
    llm_module._LEARNT.clear()
    settings = engine.settings.model_copy(update={"llm_plan": "auto" if mode == "auto" else "always"})
    client = ChatClient(url, model, timeout=120, retries=1, temperature=None if mode == "before" else 0.0)
    if mode == "before":
        llm_module._LEARNT[client.url] = "none"  # the prompt alone, as before
    asker = Asker(engine.tenant(), settings, client)
    if mode == "before":  # and no temperature with the answer either
        settings = settings.model_copy(update={"llm_temperature": None})
        asker.settings = settings
    rows = []
    for q in questions:
        started = time.perf_counter()
        answer = asker.ask(q)
        seconds = time.perf_counter() - started
        trace = answer.plan.trace
        if answer.plan.source == "llm":
            outcome = "partial" if any(t.startswith("LLM plan fields dropped") for t in trace) else "full"
        elif any("LLM plan skipped" in t for t in trace):
            outcome = "skipped"
        else:
            outcome = "rejected"
        why = next((t for t in trace if t.startswith(("LLM plan not used", "LLM plan fields dropped"))), "")
        rows.append({"question": q, "plan": outcome, "seconds": round(seconds, 2), "mode": answer.mode,
                     "found": answer.found,
                     "cited": len(answer.citations), "text": answer.text[:200], "why": why[:300],
                     "style": client.structured_style})
        print(f"  [{mode}] {outcome:<8} {seconds:6.1f} s  {answer.mode:<10} found={answer.found!s:<5} {q[:60]}",
              flush=True)
    same = []
    for q in questions[:repeat]:
        texts = {asker.ask(q).text for _ in range(3)}
        same.append(len(texts) == 1)
    client.close()
    times = [r["seconds"] for r in rows]
    counts = {k: sum(r["plan"] == k for r in rows) for k in ("full", "partial", "rejected", "skipped")}
    return {"mode": mode, "plans": counts, "found": sum(r["found"] for r in rows),
            "median_s": round(statistics.median(times), 2),
            "total_s": round(sum(times), 1), "same_answer_3x": f"{sum(same)}/{len(same)}",
            "style": client.structured_style, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llm", required=True, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:18921/v1")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct", help="model name the server knows")
    parser.add_argument("--modes", default="before,always,auto")
    parser.add_argument("--repeat", type=int, default=3, help="questions asked three times for determinism")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidseek-askllm-") as tmp:
        root = Path(tmp)
        lib = build_library(root)
        with vidseek.open(root / "data", visual_model=str(root / "no-model"), routes=["ocr", "title"]) as engine:
            report = engine.index([lib])
            assert not report.failed, report.failed
            results = [run_mode(engine, args.llm, args.model, m, QUESTIONS, args.repeat)
                       for m in args.modes.split(",")]
    print(f"\n{'mode':<8} {'plans full/partial/rejected/skipped':<36} {'found':>6} {'median s':>9} {'total s':>8}  "
          "same 3x  style")
    for r in results:
        p = r["plans"]
        counts = f"{p['full']}/{p['partial']}/{p['rejected']}/{p['skipped']}"
        print(f"{r['mode']:<8} {counts:<36} {r['found']:>3}/{len(r['rows']):<2} {r['median_s']:>9} {r['total_s']:>8}  "
              f"{r['same_answer_3x']:>7}  "
              f"{r['style']}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
