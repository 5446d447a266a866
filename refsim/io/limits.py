"""Resource limits of the checkpoint readers (documented in ``docs/checkpoints.md``).

A checkpoint is untrusted input. Before recursing or allocating, every reader
checks what the file *declares* against a :class:`ReadLimits`:

- ``max_depth`` -- containers (dicts, lists, tuples) nested more deeply than
  this are refused, both while the pickle is scanned (before the unpickler
  builds or hashes anything: CPython hashes a tuple key recursively, without a
  recursion check, so a 150,000-deep tuple would crash the interpreter) and
  while the state dict is flattened;
- ``max_bytes`` -- the decompressed bytes of all arrays of one npz file;
- ``max_expansion`` -- the ratio of decompressed to compressed bytes of an npz
  file (``ratio <= max_expansion``, plus an allowance of 1 MiB), which refuses
  a "zip bomb" (a 1 MB file that inflates to 1 GiB) before it is inflated.

Uncompressed formats (PyTorch zip and legacy, safetensors) are bounded by the
file's own size: a storage or tensor that claims more bytes than the file
holds is refused before allocation.

Callers override a limit by passing ``limits=ReadLimits(max_depth=200)`` to
:func:`refsim.io.load_state_dict` or to any reader.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ReadLimits", "DEFAULT_LIMITS"]


@dataclass(frozen=True)
class ReadLimits:
    """Upper bounds applied to every untrusted checkpoint.

    Attributes
    ----------
    max_depth : int
        Deepest container nesting (default 64; real state dicts nest < 10).
    max_bytes : int
        Decompressed bytes of all npz members together (default 16 GiB).
    max_expansion : float
        Decompressed bytes per compressed byte of an npz file, beyond a 1 MiB
        allowance (default 100; deflated float weights expand about 1.1x).
    """

    max_depth: int = 64
    max_bytes: int = 1 << 34
    max_expansion: float = 100.0

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_bytes"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"ReadLimits.{name}: received {value!r}; expected an int >= 1")
        value = self.max_expansion
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 1.0 <= value < float("inf"):
            raise ValueError(f"ReadLimits.max_expansion: received {value!r}; expected a finite number >= 1")

    def npz_budget(self, compressed_bytes: int) -> int:
        """Largest decompressed size accepted for an npz file of ``compressed_bytes``."""
        return min(self.max_bytes, int(self.max_expansion * compressed_bytes) + (1 << 20))


#: The limits used when a caller passes none.
DEFAULT_LIMITS = ReadLimits()
