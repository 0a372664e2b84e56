"""Keyframe captions from a vision-language model behind an OpenAI-compatible endpoint (the caption route).

Usage::

    captioner = Captioner(Settings(vlm_base_url="http://localhost:11434/v1", vlm_model="qwen2.5vl:3b"))
    captioner.load()                      # ModelUnavailableError with the fix when VIDSEEK_VLM_BASE_URL is unset
    captioner.caption(frame_rgb)          # "A man in a red jacket opens a door marked EXIT."

A caption names what image-text embeddings blur: people, objects, actions, the setting and any
visible text, as searchable words. The prompt is fixed; the image is the only thing that varies.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from vidseek.analyze.base import Model
from vidseek.errors import ModelUnavailableError

if TYPE_CHECKING:
    import numpy as np

    from vidseek.settings import Settings

CAPTION_PROMPT = (
    "Describe this video frame in one or two sentences for a search index: the people, objects, actions, "
    "setting and any visible text (quote it exactly). Say only what is visible; do not speculate. "
    "Answer in English."
)
IMAGE_MAX_SIDE = 512  # pixels: the long side of the JPEG sent; small VLMs tile larger images into more tokens
JPEG_QUALITY = 85
MAX_OUTPUT_TOKENS = 120  # one or two sentences; a cap so a rambling model cannot run up the bill
# Cost model, per keyframe, for `vidseek captions estimate` (qwen2.5-vl: a 512 px image is ~300 tokens).
TOKENS_PER_IMAGE = 300
PROMPT_TOKENS = 60
OUTPUT_TOKENS = 60
# After this many failed calls in a row (each already retried by ChatClient), calls fail at once for a while:
# a dead endpoint must not cost every remaining video of a run its retries.
MAX_FAILURES_IN_A_ROW = 3
PAUSE_AFTER_FAILURES = 60.0  # seconds

SETUP_HINT = (
    "set VIDSEEK_VLM_BASE_URL to an OpenAI-compatible vision endpoint, e.g. Ollama http://localhost:11434/v1 "
    "with `ollama pull qwen2.5vl:3b` (VIDSEEK_VLM_MODEL names the model)"
)


def image_data_url(image: np.ndarray, max_side: int = IMAGE_MAX_SIDE) -> str:
    """An RGB array as a `data:image/jpeg;base64,...` URL, long side at most `max_side`.

    Usage: `image_data_url(np.zeros((360, 640, 3), np.uint8))`.
    """
    import numpy as np
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(image[..., :3]).astype(np.uint8, copy=False))
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # keeps aspect ratio, never enlarges
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def caption_messages(image: np.ndarray) -> list[dict]:
    """The chat request for one keyframe: the fixed instruction and the image.

    Usage: `client.complete(caption_messages(frame))`.
    """
    content = [
        {"type": "text", "text": CAPTION_PROMPT},
        {"type": "image_url", "image_url": {"url": image_data_url(image)}},
    ]
    return [{"role": "user", "content": content}]


def clean_caption(text: str) -> str:
    """One line: whitespace collapsed, wrapping quotes dropped. Usage: `clean_caption(' "A dog."\\n')`."""
    line = " ".join(text.split())
    if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'":
        line = line[1:-1].strip()
    return line


class Captioner(Model):
    """Captions images with the VLM at `vlm_base_url`. Usage: `Captioner(settings).caption(rgb_array)`."""

    task = "caption"

    def __init__(self, settings: Settings):
        super().__init__(settings.vlm_model, settings)
        self._client = None
        self._failures = 0
        self._paused_until = 0.0
        self._last_error = ""
        self._state = threading.Lock()

    def _load(self) -> None:
        from vidseek.analyze.llm import ChatClient, LLMError

        try:
            client = ChatClient.vision_from_settings(self.settings)
        except LLMError as exc:  # not an http(s) URL
            raise ModelUnavailableError(f"{exc}; {SETUP_HINT}") from None
        if client is None:
            raise ModelUnavailableError(f"no vision model is configured: {SETUP_HINT}")
        self._client = client

    @property
    def version(self) -> str:
        host = urlparse(self.settings.vlm_base_url or "").netloc or "unset"
        return f"vlm:{self.name}@{host}"

    def caption(self, image: np.ndarray) -> str:
        """One or two sentences about an RGB uint8 image; raises LLMError when the endpoint fails."""
        from vidseek.analyze.llm import LLMError

        self.load()
        with self._state:
            if time.monotonic() < self._paused_until:
                raise LLMError(f"skipped: the vision endpoint failed {self._failures} times in a row: "
                               f"{self._last_error}")
        try:
            text = self._client.complete(caption_messages(image), temperature=0, max_tokens=MAX_OUTPUT_TOKENS)
        except LLMError as exc:
            self._failed(str(exc))
            raise
        with self._state:
            self._failures = 0
        return clean_caption(text)

    def _failed(self, problem: str) -> None:
        with self._state:
            self._failures += 1
            self._last_error = problem
            if self._failures >= MAX_FAILURES_IN_A_ROW:
                self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURES

    def close(self) -> None:
        """Close the HTTP connections: `captioner.close()`."""
        if self._client is not None:
            self._client.close()
