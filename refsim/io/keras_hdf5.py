"""Keras HDF5 weight files (``model.save_weights(...h5)`` / ``model.save(...h5)``), read through h5py.

h5py is an **optional** dependency (the ``models`` extra: ``pip install 'refsim[models]'``);
it is imported only when a file is read, and only by this module.

Layout read (Keras 2 and tf.keras, "legacy HDF5" format): the root group (or, in a full
``model.save`` file, its ``model_weights`` sub-group) has the attribute ``layer_names``;
the group of each layer has the attribute ``weight_names`` (paths relative to that group,
e.g. ``rnn_1/kernel:0``), in the order Keras' ``layer.get_weights()`` returns them. No
code is executed and no Keras class is rebuilt: only the arrays and these attributes are
read. Everything malformed raises :class:`~refsim.io.errors.CheckpointError` (a
``ValueError``) naming the file and the entry.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from refsim.io.errors import CorruptCheckpointError

__all__ = ["KerasWeights", "read_keras_hdf5", "import_h5py", "H5PY_HINT"]

#: How to install the optional reader.
H5PY_HINT = "pip install 'refsim[models]' (or: pip install h5py)"


def import_h5py():
    """The ``h5py`` module, or an ImportError that names the optional extra."""
    try:
        import h5py
    except ImportError as exc:
        raise ImportError(f"reading Keras HDF5 weight files needs h5py, the optional 'models' extra of "
                          f"refsim: {H5PY_HINT}") from exc
    return h5py


@dataclass(frozen=True)
class KerasWeights:
    """The weights of a Keras HDF5 file.

    Attributes
    ----------
    path : str
        The file read.
    layers : dict[str, dict[str, ndarray]]
        ``layer name -> {weight name -> array}`` in the file's layer order; weight names as
        stored (``"rnn_1/kernel:0"``), arrays in their stored dtype and shape.
    attrs : dict[str, str]
        Root attributes that are strings (e.g. ``keras_version``, ``backend``).
    """

    path: str
    layers: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)

    def get(self, layer: str, weight: str, shape: tuple) -> np.ndarray:
        """Weight ``weight`` (the part after ``"<layer>/"``, e.g. ``"kernel:0"``) of ``layer`` as
        float64, checked to have ``shape``; a CorruptCheckpointError naming file and entry otherwise."""
        if layer not in self.layers:
            raise CorruptCheckpointError(f"{self.path}: no layer {layer!r}; the file has layers "
                                         f"{list(self.layers)}")
        stored = self.layers[layer]
        key = next((k for k in stored if k.rsplit("/", 1)[-1] == weight), None)
        if key is None:
            raise CorruptCheckpointError(f"{self.path}: layer {layer!r} has no weight {weight!r}; "
                                         f"it has {list(stored)}")
        arr = stored[key]
        if arr.dtype.kind != "f":
            raise CorruptCheckpointError(f"{self.path}: {layer}/{key}: received dtype {arr.dtype}; "
                                         "expected a floating-point array")
        if arr.shape != tuple(shape):
            raise CorruptCheckpointError(f"{self.path}: {layer}/{key}: received shape {arr.shape}; "
                                         f"expected {tuple(shape)}")
        out = arr.astype(np.float64)
        if not np.all(np.isfinite(out)):
            raise CorruptCheckpointError(f"{self.path}: {layer}/{key}: holds NaN or infinite values")
        return out


def _names(attrs, key: str, path: str, where: str) -> list[str]:
    """A Keras list-of-names attribute (bytes or str array; empty float array when empty)."""
    if key not in attrs:
        raise CorruptCheckpointError(f"{path}: {where} has no attribute {key!r}; not a Keras HDF5 weight file")
    raw = np.asarray(attrs[key])
    if raw.size == 0:
        return []
    if raw.ndim != 1 or raw.dtype.kind not in "SUO":
        raise CorruptCheckpointError(f"{path}: {where}.attrs[{key!r}]: received {raw.dtype} array of shape "
                                     f"{raw.shape}; expected a list of names")
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in raw.tolist()]


def read_keras_hdf5(path) -> KerasWeights:
    """Read every weight array of a Keras HDF5 file (see the module docstring for the layout).

    Raises
    ------
    ImportError : h5py is not installed (the message names the extra).
    FileNotFoundError : no file at ``path``.
    CorruptCheckpointError : not HDF5, truncated, or not in the Keras layout (names file and entry).
    """
    path = os.fspath(path)
    h5py = import_h5py()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Keras weights: no file at {path!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise CorruptCheckpointError(f"{path}: cannot be opened as HDF5 ({exc})") from None
    with f:
        root = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        where = "/" if root is f else "/model_weights"
        attrs = {k: (v.decode("utf8") if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        attrs = {k: v for k, v in attrs.items() if isinstance(v, str)}
        layers = {}
        for layer in _names(root.attrs, "layer_names", path, where):
            if layer not in root:
                raise CorruptCheckpointError(f"{path}: layer {layer!r} is listed in layer_names but has no group")
            group = root[layer]
            weights = {}
            for name in _names(group.attrs, "weight_names", path, f"layer {layer!r}"):
                obj = group.get(name)
                if not isinstance(obj, h5py.Dataset):
                    raise CorruptCheckpointError(f"{path}: {layer}/{name}: listed in weight_names but "
                                                 "not a dataset in the file")
                try:
                    weights[name] = np.asarray(obj[()])
                except OSError as exc:  # truncated or damaged data
                    raise CorruptCheckpointError(f"{path}: {layer}/{name}: cannot be read ({exc})") from None
            layers[layer] = weights
    return KerasWeights(path, layers, attrs)
