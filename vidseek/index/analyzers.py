"""The models each route needs, created lazily, with their availability remembered per run.

A model that cannot be loaded turns its route "unavailable" (with the reason) and indexing goes
on with the other routes; the reason is reported once, not once per file. The text embedder that
every text route shares (semantic matching) is kept here too, under the name `TEXT_EMBEDDER`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vidseek.errors import ModelUnavailableError
from vidseek.records import CAPTION, DNA, FACE, OCR, OPTIONAL_ROUTES, SPEECH, TITLE, VISUAL
from vidseek.settings import Settings

log = logging.getLogger(__name__)

TEXT_EMBEDDER = "semantic"  # not a route: the meaning side of every text route


class Analyzers:
    """Usage: `a = Analyzers(settings); enc = a.get(VISUAL)` (None when unavailable, see `reason`)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._models: dict[str, Any] = {}
        self._idle: dict[str, Any] = {}  # created, not loaded (the text embedder's width and tag need no weights)
        self._reasons: dict[str, str] = {}
        self._lock = threading.Lock()  # the server's request threads and indexer share these models

    def _create(self, route: str) -> Any:
        if route == VISUAL:
            from vidseek.analyze.registry import load_visual_model

            return load_visual_model(self.settings)
        if route == SPEECH:
            from vidseek.analyze.asr import SpeechRecognizer

            return SpeechRecognizer(self.settings)
        if route == OCR:
            from vidseek.analyze.ocr import TextReader

            return TextReader("rapidocr-ppocrv4", self.settings)
        if route == CAPTION:
            from vidseek.analyze.captions import Captioner

            return Captioner(self.settings)
        if route == FACE:
            from vidseek.analyze.registry import load_face_model

            return load_face_model(self.settings)
        if route == DNA:
            from vidseek.index.dna import Fingerprinter

            return Fingerprinter()
        if route == TEXT_EMBEDDER:
            from vidseek.analyze.registry import load_text_model

            model = load_text_model(self.settings)
            if model is None:
                raise ModelUnavailableError("semantic text matching is off (VIDSEEK_TEXT_MODEL=off)")
            return model
        raise KeyError(route)

    def _enabled(self, route: str) -> bool:
        """Optional routes (captions) are turned on per library or per run, so their model is always offered."""
        return route in self.settings.routes or route in OPTIONAL_ROUTES or route == TEXT_EMBEDDER

    def embedder(self) -> Any | None:
        """The text embedder (`vidseek.analyze.embed.TextEmbedder`), or None (see `reason(TEXT_EMBEDDER)`)."""
        return self.get(TEXT_EMBEDDER)

    def _unloaded_embedder(self) -> Any | None:
        """The text embedder, created but not necessarily loaded (its width and tag need no weights)."""
        return self._created(TEXT_EMBEDDER)

    def text_dim(self) -> int | None:
        """Width of the text vectors the store must hold, without loading a registered model."""
        model = self._unloaded_embedder()
        try:
            return model.dim if model is not None else None
        except ModelUnavailableError:  # an unregistered model must load to know its width
            return None

    def text_tag(self) -> str | None:
        """The text embedder's tag (which model made a row's vector), without loading a registered model."""
        model = self._unloaded_embedder()
        try:
            return model.tag if model is not None else None
        except ModelUnavailableError:
            return None

    def get(self, route: str) -> Any | None:
        """The loaded model for `route`, or None if it cannot be loaded (see `reason(route)`)."""
        if route == TITLE or not self._enabled(route):
            return None
        if route in self._models:
            return self._models[route]
        with self._lock:
            return self._load(route)

    def _load(self, route: str) -> Any | None:
        if route in self._reasons:
            return None
        if route not in self._models:
            try:
                model = self._idle.pop(route, None) or self._create(route)
                model.load()
            except ModelUnavailableError as exc:
                self._reasons[route] = str(exc)
                log.warning("%s route unavailable: %s", route, exc)
                return None
            self._models[route] = model
        return self._models[route]

    def reason(self, route: str) -> str | None:
        if not self._enabled(route):
            return "disabled in settings (VIDSEEK_ROUTES)"
        return self._reasons.get(route)

    def version(self, route: str) -> str | None:
        """Version string of the route's model; None when unavailable. Title has no model."""
        if route == TITLE:
            return "title-v1"
        if route not in self._models and self._enabled(route):
            idle = self._created(route)  # no weights needed for this one's version: a no-op run loads nothing
            if idle is not None and getattr(idle, "version_without_load", False):
                try:
                    return idle.version
                except ModelUnavailableError:
                    pass  # the load below says why, once
        model = self.get(route)
        return model.version if model is not None else None

    def _created(self, route: str) -> Any | None:
        """The route's model, created but not loaded; None when even that fails (the reason is kept)."""
        if route in self._models:
            return self._models[route]
        if route in self._reasons:
            return None
        with self._lock:
            if route not in self._idle:
                try:
                    self._idle[route] = self._create(route)
                except ModelUnavailableError as exc:
                    self._reasons[route] = str(exc)
                    return None
            return self._idle[route]

    def note_unavailable(self, route: str, reason: str) -> None:
        """Remember that `route`'s model cannot load elsewhere (a Ray worker said so): reported once, not retried."""
        with self._lock:
            if route not in self._models:
                self._reasons.setdefault(route, reason)

    def unavailable(self) -> dict[str, str]:
        return dict(self._reasons)
