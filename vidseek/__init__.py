"""vidseek: self-hostable multimodal video search.

Usage::

    import vidseek
    with vidseek.open("./data") as engine:
        engine.index(["~/Videos"])
        moments = engine.search("ask not what your country can do").limit(5).to_list()
"""

from vidseek.engine import Engine, IndexReport, LibraryHandle, Tenant, open
from vidseek.errors import (
    DataDirLockedError,
    MediaError,
    ModelUnavailableError,
    QueryError,
    StoreError,
    VidseekError,
)
from vidseek.records import Evidence, Moment
from vidseek.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "open", "Engine", "Tenant", "LibraryHandle", "IndexReport", "Settings", "Moment", "Evidence",
    "VidseekError", "MediaError", "ModelUnavailableError", "DataDirLockedError", "StoreError", "QueryError",
]
