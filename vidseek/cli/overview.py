"""`vidseek` and `vidseek --help` without loading the command modules: the command list, printed in a
few milliseconds. `vidseek COMMAND --help` is typer's full help. tests/test_cli_overview.py keeps
COMMANDS equal to what the typer app registers."""

from __future__ import annotations

import shutil
import sys

SUMMARY = "Multimodal video search (zh + en)."
COMMANDS = (
    ("index", "Index videos: frames (1 fps) -> shots -> visual, speech, on-screen text, title."),
    ("search", "Find the moments that match a sentence, an image, a face photo, or a clip: ranked video, "
               "start-end, score, evidence."),
    ("status", "Videos, hours, segments, per-route coverage, models and store location."),
    ("remove", "Remove a video (or everything under a folder) from the index: rows, thumbnails, catalog."),
    ("sample", "Generate a small sample library (speech + on-screen text in English and Chinese, shapes)."),
    ("serve", "Run the REST API and web page on this data dir (OpenAPI docs at /docs)."),
    ("ask", "Answer a question from the library: a short answer citing moments [n] -> video, start-end."),
    ("cut", "Cut result N of the last search into an mp4: `vidseek cut 2 -o ferry.mp4`."),
    ("open", "Play result N of the last search from its start in a video player (mpv, VLC, ffplay...)."),
    ("people", "People: the faces found in your videos, grouped by person."),
    ("duplicates", "Groups of near-identical videos (re-uploads, copies, re-cuts) and the segments they share."),
    ("eval", "Evaluate search quality: recall per route setting, moment IoU, no-match rate, latency, misses."),
    ("models", "Export and inspect image-text models."),
    ("keys", "API keys for the server (one tenant per key)."),
    ("libraries", "Libraries: named sets of videos with their own settings."),
    ("corpus", "Evaluation corpora: make or import."),
    ("captions", "Captions of shot keyframes by a vision-language model (optional route; needs VIDSEEK_VLM_BASE_URL)."),
)


def wants_overview(argv: list[str]) -> bool:
    """True for `vidseek`, `vidseek --help` and `vidseek -h`."""
    return argv in ([], ["--help"], ["-h"])


def render(width: int | None = None) -> str:
    width = max(60, min(width or shutil.get_terminal_size((100, 24)).columns, 120))
    name_width = max(len(name) for name, _ in COMMANDS) + 2
    lines = ["Usage: vidseek [OPTIONS] COMMAND [ARGS]...", "", SUMMARY, "", "Commands:"]
    for name, text in COMMANDS:
        room = width - 2 - name_width
        words, line = text.split(), ""
        rows = []
        for word in words:
            if line and len(line) + 1 + len(word) > room:
                rows.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        rows.append(line)
        lines.append(f"  {name:<{name_width}}{rows[0]}")
        lines += [f"  {'':<{name_width}}{row}" for row in rows[1:]]
    lines += ["", "Run `vidseek COMMAND --help` for a command's options."]
    return "\n".join(lines) + "\n"


def print_overview() -> None:
    sys.stdout.write(render())
