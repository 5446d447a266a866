"""Input normalization shared by the readers: a path or the file's bytes."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["read_source"]


def read_source(source: Any, name: str = "source") -> bytes:
    """Return the bytes of ``source``.

    Parameters
    ----------
    source : str, os.PathLike, bytes, bytearray or memoryview
        A path to read, or the content itself.
    name : str
        Argument name used in error messages.

    Returns
    -------
    bytes

    Raises
    ------
    TypeError
        ``source`` is of another type.
    FileNotFoundError, IsADirectoryError, PermissionError
        From the operating system, unchanged.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            return handle.read()
    raise TypeError(
        f"{name}: received {type(source).__name__}; expected a path (str or os.PathLike) or bytes"
    )
