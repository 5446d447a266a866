"""Download a registry checkpoint safely: temp file, bounds, SHA-256, atomic rename.

Protocol of :func:`fetch`:

1. If ``dir/<filename>`` exists and its SHA-256 matches, return it. If it
   exists and does *not* match, it is deleted first: the final name only ever
   holds a verified file, also after a later failure.
2. Delete stale temporary files of the same target (``.<filename>.*.part``)
   left by a killed fetch: a running fetch holds an exclusive ``flock`` on its
   temporary file, so only files that no process holds are removed.
3. Stream the URL (``urllib``) into a fresh temporary file *in the target
   directory* (``.<filename>.<random>.part``), hashing while writing, with a
   ``tqdm`` progress bar. Two bounds apply (both options of :func:`fetch`):

   - ``deadline_s`` (default :data:`DEFAULT_DEADLINE_S`, one hour): the whole
     download must finish in time -- a server that trickles one byte a second
     never trips the per-read ``timeout_s`` but trips this; it is checked
     between reads, and no read blocks longer than ``min(timeout_s, deadline_s)``;
   - ``max_bytes`` (default :data:`DEFAULT_MAX_BYTES`, 4 GiB): a larger
     ``Content-Length`` is refused before reading, a longer body when it
     passes the cap.

4. If the server announced a ``Content-Length``, the body must have exactly
   that many bytes; the SHA-256 (full, or the published prefix) must match.
5. ``os.replace`` the temporary file onto ``dir/<filename>`` -- atomic on
   POSIX and Windows, so the final name only ever holds a verified file.
6. On *any* failure (network error, deadline, size cap, interruption,
   KeyboardInterrupt, bad hash) the temporary file is deleted, so nothing that
   looks valid is left behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from refsim.io.errors import ChecksumError, DownloadError
from refsim.io.registry import get_checkpoint

try:  # POSIX: a running download holds a lock on its temporary file
    import fcntl
except ImportError:  # pragma: no cover - Windows: stale files are recognized by age only
    fcntl = None

__all__ = ["fetch", "sha256_file", "verify_sha256", "download_url", "DEFAULT_DEADLINE_S", "DEFAULT_MAX_BYTES"]

#: Default overall time limit of one download, seconds.
DEFAULT_DEADLINE_S = 3600.0
#: Default size cap of one download, bytes (the largest registry checkpoint is ~0.5 GB).
DEFAULT_MAX_BYTES = 4 << 30
#: Without ``fcntl``, a temporary file untouched for this long is stale.
_STALE_AGE_S = 86400.0

CHUNK_BYTES = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file, as 64 lower-case hex digits (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(actual: str, expected: str, what: str) -> None:
    """Raise :class:`ChecksumError` unless ``actual`` matches ``expected``.

    ``expected`` is the full 64-digit hash or a prefix of at least 8 digits
    (then only the prefix is compared, as ``torch.hub`` does).
    """
    expected = expected.lower()
    if len(expected) < 8:
        raise ValueError(f"expected sha256 {expected!r} is too short: give at least 8 hex digits")
    if not actual.startswith(expected):
        kind = "SHA-256" if len(expected) == 64 else f"SHA-256 prefix ({len(expected)} digits)"
        raise ChecksumError(f"{what}: {kind} mismatch: received {actual[:len(expected)]}; expected {expected}")


def _check_bounds(name: str, value: float, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < float("inf"):
        raise ValueError(f"{name}: received {value!r}; expected a finite number > {low:g}")
    return value


def remove_stale_parts(dest: Path) -> list[Path]:
    """Delete the ``.<name>.*.part`` files of ``dest`` that no running download holds.

    Returns the paths removed.
    """
    removed = []
    for part in dest.parent.glob(f".{dest.name}.*.part"):
        try:
            with open(part, "rb") as handle:
                if fcntl is not None:
                    try:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        continue  # a live download holds it
                elif time.time() - os.fstat(handle.fileno()).st_mtime < _STALE_AGE_S:
                    continue
                part.unlink()
                removed.append(part)
        except FileNotFoundError:
            continue
    return removed


def download_url(url: str, dest: str | os.PathLike, sha256: str, *, progress: bool = True,
                 timeout_s: float = 60.0, deadline_s: float = DEFAULT_DEADLINE_S,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
    """Download ``url`` to ``dest`` atomically, within a deadline and a size cap, verifying its SHA-256.

    Parameters
    ----------
    url : str
        ``http(s)://`` or ``file://`` URL.
    dest : str or os.PathLike
        Final path; its directory must exist.
    sha256 : str
        Expected hash, full or prefix (>= 8 hex digits).
    progress : bool
        Show a tqdm progress bar on stderr.
    timeout_s : float
        Socket timeout per blocking operation, in seconds.
    deadline_s : float
        Time limit of the whole download, in seconds (checked between reads).
    max_bytes : int
        Largest body accepted, in bytes.

    Returns
    -------
    pathlib.Path
        ``dest``, which now holds the verified file.

    Raises
    ------
    DownloadError
        Connection/HTTP failure, a body shorter/longer than Content-Length,
        past the deadline or over the size cap.
    ChecksumError
        The downloaded bytes do not match ``sha256``.
    """
    _check_bounds("timeout_s", timeout_s, 0.0)
    _check_bounds("deadline_s", deadline_s, 0.0)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes: received {max_bytes!r}; expected an int >= 1")
    dest = Path(dest)
    remove_stale_parts(dest)
    start = time.monotonic()
    handle = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False)
    tmp_path = Path(handle.name)
    try:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when closed, or when this process dies
        digest = hashlib.sha256()
        n_bytes = 0
        with handle:
            try:
                response = urllib.request.urlopen(url, timeout=min(timeout_s, deadline_s))  # noqa: S310
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise DownloadError(f"cannot open {url}: {exc}") from exc
            with response:
                length_header = response.headers.get("Content-Length")
                expected_len = int(length_header) if length_header and length_header.isdigit() else None
                if expected_len is not None and expected_len > max_bytes:
                    raise DownloadError(f"download of {url}: received Content-Length {expected_len}; expected at "
                                        f"most max_bytes={max_bytes}")
                read = getattr(response, "read1", response.read)  # read1: one recv, so the deadline is checked
                with tqdm(total=expected_len, unit="B", unit_scale=True, desc=dest.name,
                          disable=not progress) as bar:
                    while True:
                        try:
                            block = read(CHUNK_BYTES)
                        except (OSError, ValueError) as exc:  # includes http.client.IncompleteRead, timeouts
                            raise DownloadError(f"download of {url} interrupted after {n_bytes} bytes: {exc}") from exc
                        elapsed = time.monotonic() - start
                        if elapsed > deadline_s:
                            raise DownloadError(f"download of {url}: received {n_bytes} bytes in {elapsed:.1f} s; "
                                                f"expected it to finish within deadline_s={deadline_s:g} s")
                        if not block:
                            break
                        n_bytes += len(block)
                        if n_bytes > max_bytes:
                            raise DownloadError(f"download of {url}: received more than {max_bytes} bytes; "
                                                f"expected at most max_bytes={max_bytes}")
                        handle.write(block)
                        digest.update(block)
                        bar.update(len(block))
            handle.flush()
            os.fsync(handle.fileno())
        if expected_len is not None and n_bytes != expected_len:
            raise DownloadError(f"download of {url} incomplete: {n_bytes} of {expected_len} bytes")
        verify_sha256(digest.hexdigest(), sha256, f"download of {url}")
        mask = os.umask(0)  # read the umask (no call reads it without setting it)
        os.umask(mask)
        os.chmod(tmp_path, 0o666 & ~mask)  # a temporary file is 0600; the checkpoint gets a new file's mode
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return dest


def fetch(name: str, dir: str | os.PathLike = "weights", *, url: str | None = None,
          progress: bool = True, timeout_s: float = 60.0, deadline_s: float = DEFAULT_DEADLINE_S,
          max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
    """Download a registry checkpoint into ``dir`` (or reuse a verified copy).

    Parameters
    ----------
    name : str
        Registry name (see :func:`refsim.io.list_checkpoints`).
    dir : str or os.PathLike
        Target directory, created if missing. Default ``weights``.
    url : str, optional
        Override the registry URL (a mirror, or a local server in tests). The
        file name and the SHA-256 still come from the registry.
    progress : bool
        Show a progress bar.
    timeout_s : float
        Socket timeout in seconds.
    deadline_s : float
        Time limit of the whole download in seconds (default one hour).
    max_bytes : int
        Size cap in bytes (default 4 GiB).

    Returns
    -------
    pathlib.Path
        Path of the verified file ``dir/<filename>``.

    Raises
    ------
    ValueError
        Unknown ``name``, or bad bounds.
    DownloadError, ChecksumError
        See :func:`download_url`; no file is left at the final path.
    """
    info = get_checkpoint(name)
    target_dir = Path(dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    dest = target_dir / info.filename
    if dest.is_file():
        try:
            verify_sha256(sha256_file(dest), info.sha256, str(dest))
            return dest
        except ChecksumError:
            dest.unlink()  # never leave an unverified file at the final name, even if the download fails
    return download_url(url or info.url, dest, info.sha256, progress=progress, timeout_s=timeout_s,
                        deadline_s=deadline_s, max_bytes=max_bytes)
