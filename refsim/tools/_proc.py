"""Process hygiene of sweeps: one writer per results file, workers that die with their parent.

- :func:`results_lock` takes an exclusive ``fcntl.flock`` on ``<results>.lock``
  for as long as a sweep writes ``<results>``; a second sweep on the same file
  is refused with a clear message. The kernel releases the lock when the
  holding process exits *or is killed*, so a crashed run never leaves it stuck
  (the lock file itself may remain; it is reused). On systems without
  ``fcntl`` (Windows) no lock is taken.
- :func:`die_with_parent` is the initializer of every worker process: on Linux
  ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` makes the kernel kill the worker when its
  parent dies (``kill -9`` included); elsewhere a daemon thread polls the
  parent's pid once a second and exits when it changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["results_lock", "die_with_parent"]

_PR_SET_PDEATHSIG = 1


@contextlib.contextmanager
def results_lock(out: str | os.PathLike) -> Iterator[None]:
    """Hold ``<out>.lock`` exclusively while the body runs; raise ``ValueError`` if another process holds it."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    lock_path = Path(str(out) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise ValueError(
                f"--out: received {str(out)!r}, which another sweep (pid {holder}) is writing now; expected a results "
                "file no running sweep holds (wait for it to finish, or choose another --out)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def die_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this process when ``parent_pid`` dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent_pid:  # the parent died before prctl took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):  # pragma: no cover - no usable libc: fall back to polling
            pass

    def watch() -> None:  # pragma: no cover - non-Linux fallback
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()
