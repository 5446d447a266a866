"""One entry point for every checkpoint format: sniff, read, extract the state dict.

:func:`load_state_dict` turns any supported file into a flat
``dict[str, numpy.ndarray]`` whose keys are the PyTorch parameter names
(``"conv1.weight"``, ``"layer1.0.bn1.running_mean"``...). The format is
recognized from the file's first bytes, never from its extension:

===============  ==============================================================
format           signature
===============  ==============================================================
``torch-zip``    zip archive (``PK\\x03\\x04``) holding ``*/data.pkl``
``npz``          zip archive holding only ``*.npy`` members
``torch-legacy`` pickle of the legacy magic number (``\\x80\\x02\\x8a\\x0a...``)
``safetensors``  little-endian header length, then ``{``
===============  ==============================================================
"""

from __future__ import annotations

import os
import reprlib
from typing import Any

import numpy as np

from refsim.io._source import read_source
from refsim.io._zip import open_zip
from refsim.io.errors import CheckpointError, CorruptCheckpointError, UnsupportedCheckpointError
from refsim.io.limits import DEFAULT_LIMITS, ReadLimits
from refsim.io.npz import is_npz, read_npz
from refsim.io.safetensors import is_safetensors, read_safetensors
from refsim.io.torch_legacy import is_torch_legacy, read_torch_legacy
from refsim.io.torch_zip import is_torch_zip, read_torch_zip

__all__ = ["FORMATS", "ReadLimits", "NESTED_KEYS", "detect_format", "load_checkpoint", "extract_state_dict", "load_state_dict"]

FORMATS = ("torch-zip", "npz", "torch-legacy", "safetensors")

#: Keys under which training scripts commonly nest the model's state dict,
#: tried in this order.
NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")

_READERS = {
    "torch-zip": read_torch_zip,
    "npz": read_npz,
    "torch-legacy": read_torch_legacy,
    "safetensors": read_safetensors,
}


def detect_format(data: bytes) -> str:
    """Name the checkpoint format of ``data`` from its content.

    Parameters
    ----------
    data : bytes
        The file's content (the first few kilobytes suffice except for zips).

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    UnsupportedCheckpointError
        A tar archive (PyTorch < 0.4).
    CorruptCheckpointError
        No known signature.
    """
    if is_torch_zip(data):
        return "torch-zip"
    if is_npz(data):
        return "npz"
    if is_torch_legacy(data):
        return "torch-legacy"
    if len(data) >= 262 and data[257:262] == b"ustar":
        raise UnsupportedCheckpointError("tar-based PyTorch checkpoints (PyTorch < 0.4) are not supported")
    if is_safetensors(data):
        return "safetensors"
    if data.startswith(b"PK"):
        open_zip(data).close()  # a damaged directory is reported as such
        raise CorruptCheckpointError("zip archive holds neither '*/data.pkl' (torch.save) nor only '*.npy' (npz)")
    raise CorruptCheckpointError(
        f"unrecognized checkpoint format (first bytes {data[:16]!r}); expected one of {FORMATS}"
    )


def load_checkpoint(source: Any, limits: ReadLimits | None = None) -> tuple[Any, str]:
    """Read a checkpoint of any supported format.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        Path of the file, or its content.
    limits : ReadLimits, optional
        Resource limits (default :data:`refsim.io.limits.DEFAULT_LIMITS`).

    Returns
    -------
    obj : object
        The saved object, tensors as ``numpy.ndarray`` (dict for npz/safetensors).
    fmt : str
        The detected format, one of :data:`FORMATS`.
    """
    data = read_source(source, "source")
    try:
        fmt = detect_format(data)
        return _READERS[fmt](data, limits), fmt
    except CheckpointError as exc:
        raise _named(exc, source) from exc


def _named(exc: CheckpointError, source: Any) -> CheckpointError:
    """The same error with the file's path in front (content passed as bytes has none)."""
    if not isinstance(source, (str, os.PathLike)):
        return exc
    return type(exc)(f"{os.fspath(source)}: {exc}")


#: Upper bound on dict entries visited while flattening (a shared-subtree DAG
#: could otherwise expand exponentially).
MAX_FLATTEN_VISITS = 1_000_000


def _flatten(node: dict, prefix: str, out: dict[str, np.ndarray], visits: list[int] | None = None,
             max_depth: int = DEFAULT_LIMITS.max_depth) -> None:
    visits = [0] if visits is None else visits
    visits[0] += len(node)
    if visits[0] > MAX_FLATTEN_VISITS:
        raise CorruptCheckpointError(f"checkpoint expands to more than {MAX_FLATTEN_VISITS} nested entries")
    if prefix.count(".") >= max_depth:
        raise CorruptCheckpointError(
            f"entry {reprlib.repr(prefix)}: dicts nested deeper than {max_depth} levels (ReadLimits.max_depth)"
        )
    for key, value in node.items():
        if not isinstance(key, str):
            # reprlib: a key can be a tuple nested thousands deep, which repr() cannot print
            raise CorruptCheckpointError(
                f"state dict key {reprlib.repr(key)} under {prefix or 'the top level'!r} is not a str"
            )
        if isinstance(value, np.ndarray):
            out[prefix + key] = value
        elif isinstance(value, dict):
            _flatten(value, prefix + key + ".", out, visits, max_depth)
        # numbers, strings, lists (e.g. 'best_prec1', 'epoch') are metadata: dropped


def extract_state_dict(obj: Any, key: str | None = None, strip_prefix: str | None = "module.",
                       limits: ReadLimits | None = None) -> dict[str, np.ndarray]:
    """Find the model's parameters in a loaded checkpoint and flatten them.

    1. If ``key`` is given, descend along it (``"a/b"`` means ``obj["a"]["b"]``).
       Otherwise, while the current dict has one of :data:`NESTED_KEYS` whose
       value is a dict, descend into the first such key.
    2. Flatten: array leaves are kept, nested dicts joined with ``"."``,
       non-array leaves (epoch counters, accuracies) dropped.
    3. If *every* key starts with ``strip_prefix`` (``nn.DataParallel`` adds
       ``"module."``), remove it.

    Parameters
    ----------
    obj : object
        Output of :func:`load_checkpoint`.
    key : str, optional
        Explicit path to the state dict.
    strip_prefix : str or None
        Prefix to remove from all keys when all share it; None keeps keys.
    limits : ReadLimits, optional
        ``max_depth`` bounds the dict nesting flattened.

    Returns
    -------
    dict of str to numpy.ndarray

    Raises
    ------
    CorruptCheckpointError
        No arrays found, a missing ``key``, or non-str keys.
    """
    node = obj
    if key is not None:
        for part in key.split("/"):
            if not isinstance(node, dict) or part not in node:
                available = sorted(map(str, node)) if isinstance(node, dict) else type(node).__name__
                raise CorruptCheckpointError(f"key={key!r}: no entry {part!r}; available: {available}")
            node = node[part]
    else:
        while isinstance(node, dict):
            nested = next((k for k in NESTED_KEYS if isinstance(node.get(k), dict)), None)
            if nested is None:
                break
            node = node[nested]
    if isinstance(node, np.ndarray):
        raise CorruptCheckpointError("checkpoint holds a single array, not a state dict; pass a dict of arrays")
    if not isinstance(node, dict):
        raise CorruptCheckpointError(f"checkpoint holds a {type(node).__name__}, not a dict of tensors")
    out: dict[str, np.ndarray] = {}
    _flatten(node, "", out, max_depth=(limits or DEFAULT_LIMITS).max_depth)
    if not out:
        raise CorruptCheckpointError(f"no tensors found in the checkpoint (top-level keys: {sorted(map(str, node))})")
    if strip_prefix and all(k.startswith(strip_prefix) for k in out):
        out = {k[len(strip_prefix):]: v for k, v in out.items()}
    return out


def load_state_dict(source: Any, *, key: str | None = None, strip_prefix: str | None = "module.",
                    limits: ReadLimits | None = None) -> dict[str, np.ndarray]:
    """Load the state dict of any supported checkpoint as NumPy arrays.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A ``.pt/.pth/.th`` (zip or legacy), ``.safetensors`` or ``.npz`` file,
        or its content. The format is sniffed from the content.
    key : str, optional
        Explicit path to the state dict inside a nested checkpoint, e.g.
        ``"state_dict"`` or ``"ema/model"``.
    strip_prefix : str or None
        Removed from all keys when all share it (default ``"module."``).
    limits : ReadLimits, optional
        Resource limits on nesting depth and decompressed size (default
        :data:`refsim.io.limits.DEFAULT_LIMITS`; see ``docs/checkpoints.md``).

    Returns
    -------
    dict of str to numpy.ndarray
        Stored dtypes are kept (float32 weights stay float32; bfloat16 becomes
        float32); cast with ``astype(np.float64)`` as needed.

    Raises
    ------
    refsim.io.CheckpointError
        (a ``ValueError``) for unreadable, unsafe or unsupported content.

    Examples
    --------
    >>> sd = load_state_dict("resnet20-12fca82f.th")          # doctest: +SKIP
    >>> sd["conv1.weight"].shape                               # doctest: +SKIP
    (16, 3, 3, 3)
    """
    obj, _ = load_checkpoint(source, limits)
    try:
        return extract_state_dict(obj, key=key, strip_prefix=strip_prefix, limits=limits)
    except CheckpointError as exc:
        raise _named(exc, source) from exc
