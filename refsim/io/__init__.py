"""Pretrained checkpoints without PyTorch: safe readers, registry, downloads.

Readers (all return NumPy arrays; none imports torch):

- :func:`load_state_dict` -- any supported file -> ``dict[str, ndarray]``;
- :func:`read_torch_zip`, :func:`read_torch_legacy` -- PyTorch ``.pt/.pth/.th``;
- :func:`read_safetensors`, :func:`read_npz` -- and writers for both;
- :func:`read_tflite` -- a TFLite flatbuffer -> :class:`~refsim.io.tflite.TFLiteModel`.

PyTorch pickles go through :class:`~refsim.io.torch_pickle.RestrictedUnpickler`,
which resolves only the names needed to rebuild tensors; see
``docs/checkpoints.md`` for the security model.

Registry and download: :data:`CHECKPOINTS`, :func:`get_checkpoint`,
:func:`fetch`, :func:`sha256_file`.
"""

from refsim.io.checkpoint import (
    FORMATS,
    detect_format,
    extract_state_dict,
    load_checkpoint,
    load_state_dict,
)
from refsim.io.download import fetch, sha256_file, verify_sha256
from refsim.io.errors import (
    CheckpointError,
    ChecksumError,
    CorruptCheckpointError,
    DownloadError,
    UnsafeCheckpointError,
    UnsupportedCheckpointError,
)
from refsim.io.npz import read_npz, write_npz
from refsim.io.registry import CHECKPOINTS, CheckpointInfo, get_checkpoint, list_checkpoints
from refsim.io.safetensors import read_safetensors, write_safetensors
from refsim.io.torch_legacy import read_torch_legacy
from refsim.io.tflite import TFLiteModel, read_tflite
from refsim.io.torch_zip import read_torch_zip

__all__ = [
    "FORMATS",
    "detect_format",
    "extract_state_dict",
    "load_checkpoint",
    "load_state_dict",
    "read_torch_zip",
    "read_torch_legacy",
    "read_safetensors",
    "write_safetensors",
    "read_npz",
    "write_npz",
    "read_tflite",
    "TFLiteModel",
    "CheckpointError",
    "CorruptCheckpointError",
    "UnsafeCheckpointError",
    "UnsupportedCheckpointError",
    "ChecksumError",
    "DownloadError",
    "CHECKPOINTS",
    "CheckpointInfo",
    "get_checkpoint",
    "list_checkpoints",
    "fetch",
    "sha256_file",
    "verify_sha256",
]
