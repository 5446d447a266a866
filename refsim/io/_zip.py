"""Opening untrusted zip archives (PyTorch zip checkpoints, npz) with consistency checks.

:mod:`zipfile` trusts the central directory: one flipped bit in an entry's
name length makes it skip the following entries silently, so a damaged npz
of 8 arrays loads 3. :func:`open_zip` refuses an archive unless

- the number of central-directory entries equals the count in the end record;
- member names are unique;
- every entry points at a local file header (``PK\\x03\\x04``) whose name is
  the entry's, and the members' byte ranges neither overlap each other nor
  the central directory.
"""

from __future__ import annotations

import io
import mmap
import os
import struct
import zipfile

from refsim.io.errors import CorruptCheckpointError

__all__ = ["open_zip", "check_zip_file"]

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # 30 bytes: signature ... name length, extra length


def open_zip(data: bytes) -> zipfile.ZipFile:
    """Open ``data`` as a zip archive whose directory agrees with its entries.

    Parameters
    ----------
    data : bytes
        The whole archive.

    Returns
    -------
    zipfile.ZipFile
        Open on an in-memory stream; the caller closes it.

    Raises
    ------
    CorruptCheckpointError
        Not a zip archive, or any inconsistency listed in the module docstring.
    """
    return _open_checked(io.BytesIO(data), data)


def check_zip_file(path: str | os.PathLike) -> None:
    """Run the checks of :func:`open_zip` on the zip file at ``path`` without reading it into memory
    (it is memory-mapped), for readers that then open it with another library (``np.load``).

    Raises
    ------
    CorruptCheckpointError
        Not a zip archive, or any inconsistency listed in the module docstring.
    OSError
        The file cannot be opened.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise CorruptCheckpointError("not a readable zip archive: the file is empty")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            _open_checked(handle, data).close()


def _open_checked(stream, data) -> zipfile.ZipFile:
    """A :class:`zipfile.ZipFile` on ``stream`` (a seekable binary file holding ``data``, the archive's
    bytes or a memory map of them) that passed :func:`_check`; closed again when a check fails."""
    try:  # the end record first (zipfile parses it first too): a ZipFile is made only when both can be read
        endrec = zipfile._EndRecData(stream)  # the end record zipfile itself parses
        archive = zipfile.ZipFile(stream)
    except Exception as exc:  # noqa: BLE001 - zipfile reports damage in many ways
        raise CorruptCheckpointError(f"not a readable zip archive: {type(exc).__name__}: {exc}") from exc
    try:
        _check(archive, endrec, data)
    except BaseException:
        archive.close()
        raise
    return archive


def _check(archive: zipfile.ZipFile, endrec: list | None, data: bytes) -> None:
    infos = archive.infolist()
    declared = endrec[zipfile._ECD_ENTRIES_TOTAL] if endrec else None
    if declared != len(infos):
        raise CorruptCheckpointError(
            f"zip central directory holds {len(infos)} entries but its end record declares {declared}: "
            "the directory is damaged"
        )
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise CorruptCheckpointError("zip archive lists a member name twice")
    spans = []
    for info in infos:
        start = info.header_offset
        if start < 0 or start + _LOCAL_HEADER.size > len(data):
            raise CorruptCheckpointError(f"zip member {info.filename!r}: local header outside the file")
        fields = _LOCAL_HEADER.unpack_from(data, start)
        name_len, extra_len = fields[-2], fields[-1]
        name = data[start + _LOCAL_HEADER.size:start + _LOCAL_HEADER.size + name_len]
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"  # as zipfile decodes names
        if fields[0] != b"PK\x03\x04" or name != info.orig_filename.encode(encoding, "replace"):
            raise CorruptCheckpointError(
                f"zip member {info.filename!r}: the central directory and the local header disagree"
            )
        end = start + _LOCAL_HEADER.size + name_len + extra_len + info.compress_size
        spans.append((start, end, info.filename))
    spans.sort()
    limit = getattr(archive, "start_dir", len(data))
    for (_, end, name), (next_start, _, _) in zip(spans, spans[1:] + [(limit, 0, "")]):
        if end > next_start:
            raise CorruptCheckpointError(f"zip member {name!r} overlaps the next member or the central directory")
