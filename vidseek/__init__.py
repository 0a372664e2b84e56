"""vidseek: self-hostable multimodal video search.

Usage::

    import vidseek
    with vidseek.open("./data") as engine:
        engine.index(["~/Videos"])
        moments = engine.search("ask not what your country can do").limit(5).to_list()
"""

from typing import TYPE_CHECKING, Any

from vidseek.errors import (
    DataDirLockedError,
    MediaError,
    ModelUnavailableError,
    QueryError,
    StoreError,
    VidseekError,
)

__version__ = "0.1.0"

__all__ = [
    "open", "Engine", "Tenant", "LibraryHandle", "IndexReport", "Settings", "Moment", "Evidence",
    "VidseekError", "MediaError", "ModelUnavailableError", "DataDirLockedError", "StoreError", "QueryError",
]

# The engine (numpy, pydantic, the store...) loads on first use, so `vidseek --help` and other light
# commands do not pay ~0.4 s for it.
_LAZY = {"open": "vidseek.engine", "Engine": "vidseek.engine", "Tenant": "vidseek.engine",
         "LibraryHandle": "vidseek.engine", "IndexReport": "vidseek.engine", "Settings": "vidseek.settings",
         "Moment": "vidseek.records", "Evidence": "vidseek.records"}

if TYPE_CHECKING:
    from vidseek.engine import Engine, IndexReport, LibraryHandle, Tenant, open
    from vidseek.records import Evidence, Moment
    from vidseek.settings import Settings


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vidseek' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
