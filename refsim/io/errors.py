"""Exceptions raised by the checkpoint readers and the downloader.

Every problem that comes from the *content* of a file is a ``ValueError``
subclass, so that callers can catch one family of errors for "this file is not
a checkpoint we can read":

- :class:`CheckpointError` -- base class;
- :class:`CorruptCheckpointError` -- truncated, inconsistent or malformed data;
- :class:`UnsafeCheckpointError` -- the file asks to import or call something
  outside the allow-list of :mod:`refsim.io.torch_pickle` (never executed);
- :class:`UnsupportedCheckpointError` -- a well-formed feature that refsim
  deliberately does not read (also a ``NotImplementedError``);
- :class:`ChecksumError` -- a file whose SHA-256 differs from the registry's.

Network failures while downloading are :class:`DownloadError` (an ``OSError``).
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CorruptCheckpointError",
    "UnsafeCheckpointError",
    "UnsupportedCheckpointError",
    "ChecksumError",
    "DownloadError",
]


class CheckpointError(ValueError):
    """Base class: the file's content cannot be read as a checkpoint."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated, inconsistent or otherwise malformed."""


class UnsafeCheckpointError(CheckpointError):
    """The file references a global that the restricted unpickler refuses."""


class UnsupportedCheckpointError(CheckpointError, NotImplementedError):
    """A valid but deliberately unsupported feature (e.g. compressed zip members)."""


class ChecksumError(CheckpointError):
    """A downloaded or local file does not match its expected SHA-256."""


class DownloadError(OSError):
    """The download failed (connection error, HTTP error, incomplete body)."""
