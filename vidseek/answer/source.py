"""What answering reads: one tenant's searchable libraries. `vidseek.engine.Tenant` is one.

Answers sit on top of search, so they take this small interface instead of the engine that
assembles the parts (imports point down the data's path).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from vidseek.search.query import Search
    from vidseek.settings import Settings
    from vidseek.store.catalog import Catalog, LibraryRecord, VideoRecord
    from vidseek.store.milvus import StoredHit


class Library(Protocol):
    """A tenant's view: search it, list its videos and libraries, read the text around moments."""

    name: str

    @property
    def settings(self) -> Settings: ...

    @property
    def catalog(self) -> Catalog: ...

    def search(self, text: str | None = None, image: np.ndarray | bytes | str | Path | None = None) -> Search: ...

    def videos(self, library_id: int | None = None) -> list[VideoRecord]: ...

    def libraries(self) -> list[LibraryRecord]: ...

    def texts_in(self, ranges: Sequence[tuple[int, float, float]]) -> list[StoredHit]: ...
