"""The report chart, drawn with Pillow (no plotting dependency): recall by route setting, latency histogram.

Usage::

    draw_chart(report, Path("eval-out/chart.png"))   # left: R@1/5/10 grouped bars; right: fused latency histogram
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from vidseek.eval.metrics import RECALL_KS, percentile
from vidseek.eval.runner import FUSED

SIZE = (1400, 560)
BAR_COLORS = ((66, 133, 244), (52, 168, 83), (251, 188, 5))  # R@1, R@5, R@10
GRID, AXIS, TEXT = (225, 225, 225), (90, 90, 90), (30, 30, 30)
Box = tuple[int, int, int, int]  # left, top, right, bottom of a plot area


def _font(size: int) -> ImageFont.ImageFont:
    from vidseek.media.synth import find_font

    for candidate in (find_font(), "DejaVuSans.ttf"):
        if candidate:
            try:
                return ImageFont.truetype(candidate, size)
            except OSError:
                continue
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def draw_chart(report: dict[str, Any], path: Path) -> Path:
    """Write the two-panel PNG for a report from `build_report`; returns the path."""
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    fonts = {"title": _font(20), "label": _font(15), "small": _font(12)}
    recall_panel(draw, report["metrics"], (70, 70, 800, 470), fonts)
    latencies = [q["results"][FUSED]["latency_ms"] for q in report["queries"]
                 if q["results"].get(FUSED, {}).get("latency_ms") is not None]
    latency_panel(draw, latencies, (900, 70, 1370, 470), fonts)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def recall_panel(draw: ImageDraw.ImageDraw, metrics: dict[str, dict[str, Any]], box: Box, fonts: dict) -> None:
    """Grouped bars: one group per route setting, one bar per R@k, value printed on each bar."""
    left, top, right, bottom = box
    draw.text((left, top - 55), "Video recall by route setting", font=fonts["title"], fill=TEXT)
    for i, k in enumerate(RECALL_KS):  # legend
        x = left + 330 + i * 90
        draw.rectangle((x, top - 50, x + 14, top - 36), fill=BAR_COLORS[i])
        draw.text((x + 20, top - 52), f"R@{k}", font=fonts["label"], fill=TEXT)
    _y_axis(draw, box, [i / 5 for i in range(6)], lambda v: f"{v:.1f}", fonts["small"])
    settings = list(metrics)
    group = (right - left) / max(1, len(settings))
    width = group * 0.24
    for g, setting in enumerate(settings):
        x0 = left + g * group + group * 0.14
        for i, k in enumerate(RECALL_KS):
            value = metrics[setting].get(f"R@{k}")
            x = x0 + i * width
            if value is None:
                draw.text((x + width / 2, bottom - 4), "n/a", font=fonts["small"], fill=AXIS, anchor="mb")
                continue
            y = bottom - value * (bottom - top)
            draw.rectangle((x + 2, y, x + width - 2, bottom), fill=BAR_COLORS[i])
            draw.text((x + width / 2, y - 3), f"{value:.2f}", font=fonts["small"], fill=TEXT, anchor="mb")
        n = metrics[setting].get("N", 0)
        draw.text((left + (g + 0.5) * group, bottom + 22), setting, font=fonts["label"], fill=TEXT, anchor="ms")
        draw.text((left + (g + 0.5) * group, bottom + 40), f"N={n}", font=fonts["small"], fill=AXIS, anchor="ms")


def latency_panel(draw: ImageDraw.ImageDraw, latencies: Sequence[float], box: Box, fonts: dict) -> None:
    """Histogram of the fused run's per-query latency (ms), with p50 and p95 marked."""
    left, top, right, bottom = box
    draw.text((left, top - 55), f"Latency per query, fused (N={len(latencies)})", font=fonts["title"], fill=TEXT)
    if not latencies:
        draw.text(((left + right) / 2, (top + bottom) / 2), "no timed queries", font=fonts["label"], fill=AXIS,
                  anchor="mm")
        return
    hi = max(latencies) * 1.05 or 1.0
    bins = 20
    counts = [0] * bins
    for v in latencies:
        counts[min(bins - 1, int(v / hi * bins))] += 1
    peak = max(counts)
    step = _nice_step(peak / 5)
    ticks = list(range(0, peak + step, step))
    _y_axis(draw, box, [t / ticks[-1] for t in ticks], lambda v: f"{round(v * ticks[-1])}", fonts["small"])
    width = (right - left) / bins
    for i, c in enumerate(counts):
        if c:
            y = bottom - c / ticks[-1] * (bottom - top)
            draw.rectangle((left + i * width + 1, y, left + (i + 1) * width - 1, bottom), fill=(120, 144, 156))
    for j in range(5):
        value = hi * j / 4
        x = left + (right - left) * j / 4
        draw.line((x, bottom, x, bottom + 5), fill=AXIS)
        draw.text((x, bottom + 20), f"{value:.0f}" if hi >= 10 else f"{value:.1f}", font=fonts["small"], fill=TEXT,
                  anchor="ms")
    draw.text(((left + right) / 2, bottom + 40), "ms", font=fonts["label"], fill=TEXT, anchor="ms")
    for name, p, color, row in (("p50", 50, (52, 168, 83), 0), ("p95", 95, (219, 68, 55), 1)):
        value = percentile(latencies, p) or 0.0
        x = left + value / hi * (right - left)
        draw.line((x, top, x, bottom), fill=color, width=2)
        label = f"{name} {value:.0f} ms" if value >= 10 else f"{name} {value:.1f} ms"
        at = (min(x + 4, right - 100), top + 4 + row * 20)
        draw.rectangle(draw.textbbox(at, label, font=fonts["label"]), fill="white")
        draw.text(at, label, font=fonts["label"], fill=color)


def _nice_step(raw: float) -> int:
    """The smallest 1, 2 or 5 x 10^k count step at least `raw` (ticks at 0, 50, 100 rather than 0, 49, 98)."""
    magnitude = 10 ** max(0, math.floor(math.log10(max(raw, 1.0))))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _y_axis(draw: ImageDraw.ImageDraw, box: Box, fractions: Sequence[float], label, font) -> None:
    """Horizontal gridlines at the given fractions of the height, labelled on the left, plus the axes."""
    left, top, right, bottom = box
    for f in fractions:
        y = bottom - f * (bottom - top)
        draw.line((left, y, right, y), fill=GRID)
        draw.text((left - 8, y), label(f), font=font, fill=TEXT, anchor="rm")
    draw.line((left, top, left, bottom), fill=AXIS)
    draw.line((left, bottom, right, bottom), fill=AXIS)
