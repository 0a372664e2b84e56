"""vidseek: self-hostable multimodal video search.

Usage::

    import vidseek
    with vidseek.open("./data") as lib:
        lib.index(["~/Videos"])
        moments = lib.search("ask not what your country can do").limit(5).to_list()
"""

from vidseek.errors import (
    DataDirLockedError,
    MediaError,
    ModelUnavailableError,
    QueryError,
    StoreError,
    VidseekError,
)
from vidseek.library import IndexReport, Library, open
from vidseek.records import Evidence, Moment
from vidseek.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "open", "Library", "IndexReport", "Settings", "Moment", "Evidence",
    "VidseekError", "MediaError", "ModelUnavailableError", "DataDirLockedError", "StoreError", "QueryError",
]
