"""Common shape of every model task (image-text encoder, speech recogniser, text reader).

Public `load()` / `predict`-style methods call subclass hooks; loading is lazy and happens once.
A model that cannot be loaded raises `ModelUnavailableError` whose message names the setting
(e.g. VIDSEEK_VISUAL_MODEL) and how to point it at a local copy.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vidseek.settings import Settings


class Model(ABC):
    """Lazy-loading wrapper around one model. Subclasses implement `_load()`."""

    task: str = "model"
    # True where `version` needs no weights (package metadata, settings, a folder's manifest): an
    # unchanged library is checked without loading the model (`Analyzers.version`).
    version_without_load: bool = False

    def __init__(self, name: str, settings: Settings):
        self.name = name
        self.settings = settings
        self._loaded = False
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load weights now (idempotent). Raises ModelUnavailableError with a fix hint."""
        with self._lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def version(self) -> str:
        """A string that changes when the weights change; stored per video to know what to redo."""
        return self.name

    @abstractmethod
    def _load(self) -> None: ...
