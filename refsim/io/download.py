"""Download a registry checkpoint safely: temp file, SHA-256, atomic rename.

Protocol of :func:`fetch`:

1. If ``dir/<filename>`` exists and its SHA-256 matches, return it.
2. Stream the URL (``urllib``) into a fresh temporary file *in the target
   directory* (``.<filename>.<random>.part``), hashing while writing, with a
   ``tqdm`` progress bar.
3. If the server announced a ``Content-Length``, the body must have exactly
   that many bytes; the SHA-256 (full, or the published prefix) must match.
4. ``os.replace`` the temporary file onto ``dir/<filename>`` -- atomic on
   POSIX and Windows, so the final name only ever holds a verified file.
5. On *any* failure (network error, interruption, KeyboardInterrupt, bad hash)
   the temporary file is deleted, so nothing that looks valid is left behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from refsim.io.errors import ChecksumError, DownloadError
from refsim.io.registry import get_checkpoint

__all__ = ["fetch", "sha256_file", "verify_sha256", "download_url"]

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


def download_url(url: str, dest: str | os.PathLike, sha256: str, *, progress: bool = True,
                 timeout_s: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying its SHA-256.

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

    Returns
    -------
    pathlib.Path
        ``dest``, which now holds the verified file.

    Raises
    ------
    DownloadError
        Connection/HTTP failure or a body shorter/longer than Content-Length.
    ChecksumError
        The downloaded bytes do not match ``sha256``.
    """
    dest = Path(dest)
    handle = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False)
    tmp_path = Path(handle.name)
    try:
        digest = hashlib.sha256()
        n_bytes = 0
        with handle:
            try:
                response = urllib.request.urlopen(url, timeout=timeout_s)  # noqa: S310 - URL from registry/user
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise DownloadError(f"cannot open {url}: {exc}") from exc
            with response:
                length_header = response.headers.get("Content-Length")
                expected_len = int(length_header) if length_header and length_header.isdigit() else None
                with tqdm(total=expected_len, unit="B", unit_scale=True, desc=dest.name,
                          disable=not progress) as bar:
                    while True:
                        try:
                            block = response.read(CHUNK_BYTES)
                        except (OSError, ValueError) as exc:  # includes http.client.IncompleteRead
                            raise DownloadError(f"download of {url} interrupted after {n_bytes} bytes: {exc}") from exc
                        if not block:
                            break
                        handle.write(block)
                        digest.update(block)
                        n_bytes += len(block)
                        bar.update(len(block))
            handle.flush()
            os.fsync(handle.fileno())
        if expected_len is not None and n_bytes != expected_len:
            raise DownloadError(f"download of {url} incomplete: {n_bytes} of {expected_len} bytes")
        verify_sha256(digest.hexdigest(), sha256, f"download of {url}")
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return dest


def fetch(name: str, dir: str | os.PathLike = "weights", *, url: str | None = None,
          progress: bool = True, timeout_s: float = 60.0) -> Path:
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

    Returns
    -------
    pathlib.Path
        Path of the verified file ``dir/<filename>``.

    Raises
    ------
    ValueError
        Unknown ``name``.
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
            pass  # a stale or foreign file: download again and replace it atomically
    return download_url(url or info.url, dest, info.sha256, progress=progress, timeout_s=timeout_s)
