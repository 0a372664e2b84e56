"""One process per data dir: Milvus Lite and our SQLite catalog must not be shared live.

A resident search process (`vidseek serve --resident`, started on demand by `vidseek search`) holds
the lock too, but it yields: the lock file says "<pid> resident", and whoever else needs the data dir
asks it to stop (SIGTERM) and waits for it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import time
from pathlib import Path

from vidseek.errors import DataDirLockedError

log = logging.getLogger(__name__)

# Written by a running server into its data dir: {"url", "pid"} and, for a resident one, "resident"
# and the token the local CLI authenticates with (the file is private to the data dir's owner).
SERVER_FILE = "server.json"
# How long to wait for a resident search process to let go of the data dir (it finishes the request
# in hand; a search takes well under a second).
RESIDENT_YIELD_SECONDS = 30.0


def server_info(data_dir: Path) -> dict | None:
    """The live server's server.json (url, pid, ...), or None: no file, or its process is gone."""
    try:
        info = json.loads((data_dir / SERVER_FILE).read_text())
        alive = _alive(int(info["pid"]))
        return info if alive and isinstance(info.get("url"), str) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _alive(pid: int) -> bool:
    """The process exists and has not died (a killed process whose parent never reaps it stays a
    zombie, which signal 0 still reaches; /proc tells them apart on Linux)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): signal 0 is all there is
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


class DataDirLock:
    """An exclusive, non-blocking advisory lock on `<data_dir>/vidseek.lock`.

    The kernel drops it when the process dies, so a kill -9 never leaves a stale lock behind.
    A resident search process holding it is asked to stop (SIGTERM) and waited for.
    """

    def __init__(self, data_dir: Path, resident: bool = False):
        self.path = data_dir / "vidseek.lock"
        self.resident = resident  # this holder yields to anyone else who asks
        self._fd: int | None = None

    def acquire(self, yield_wait: float = RESIDENT_YIELD_SECONDS) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            owner = self._take(fd, yield_wait)
        except BaseException:
            os.close(fd)
            raise
        if owner is not None:
            os.close(fd)
            raise DataDirLockedError(
                f"data dir {self.path.parent} is in use by another vidseek process (pid {owner}). "
                "Milvus Lite allows one process per data dir: wait for it to finish, stop it, "
                "or use another --data-dir / VIDSEEK_DATA_DIR."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}{' resident' if self.resident else ''}".encode(), 0)
        self._fd = fd

    def busy(self) -> bool:
        """Whether another process holds the lock now (without taking it)."""
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a lock taken here
        return False

    def _take(self, fd: int, yield_wait: float) -> str | None:
        """Lock `fd`; None when taken, else the holder's pid (as text)."""
        deadline: float | None = None
        asked: set[str] = set()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return None
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").split()
            owner = holder[0] if holder else "unknown"
            if holder[1:] == ["resident"] and owner not in asked:
                log.info("asking the resident search process (pid %s) to let go of %s", owner, self.path.parent)
                try:
                    os.kill(int(owner), signal.SIGTERM)
                except (OSError, ValueError):
                    pass
                asked.add(owner)
                deadline = time.monotonic() + yield_wait
            if deadline is None or time.monotonic() > deadline:
                return owner
            time.sleep(0.05)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
