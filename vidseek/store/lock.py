"""One process per data dir: Milvus Lite and our SQLite catalog must not be shared live."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from vidseek.errors import DataDirLockedError


class DataDirLock:
    """An exclusive, non-blocking advisory lock on `<data_dir>/vidseek.lock`.

    The kernel drops it when the process dies, so a kill -9 never leaves a stale lock behind.
    """

    def __init__(self, data_dir: Path):
        self.path = data_dir / "vidseek.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirLockedError(
                f"data dir {self.path.parent} is in use by another vidseek process (pid {owner}). "
                "Milvus Lite allows one process per data dir: wait for it to finish, stop it, "
                "or use another --data-dir / VIDSEEK_DATA_DIR."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
