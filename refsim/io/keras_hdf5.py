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

from refsim.io.errors import CheckpointError, CorruptCheckpointError

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
    out = []
    for k, v in enumerate(raw.tolist()):
        if isinstance(v, bytes):
            try:
                v = v.decode("utf8")
            except UnicodeDecodeError as exc:
                raise CorruptCheckpointError(f"{path}: {where}.attrs[{key!r}][{k}]: received bytes that are not "
                                             f"UTF-8 ({exc.reason} at byte {exc.start}); expected a name") from None
        if not isinstance(v, str) or not v or v.startswith("/"):
            raise CorruptCheckpointError(f"{path}: {where}.attrs[{key!r}][{k}]: received {v!r:.60}; expected a "
                                         "non-empty relative path inside the file")
        out.append(v)
    return out


def _member(h5py, group, name: str, kind, path: str, where: str, listed: str = "the Keras layout"):
    """``group[name]`` (a relative path) when every link along it is a hard link inside this file and
    the object is a ``kind`` (h5py.Group or h5py.Dataset); a soft or external link (which could
    point into another file), a missing member or another kind of object is refused."""
    node = group
    parts = [part for part in name.split("/") if part not in ("", ".")]
    for i, part in enumerate(parts):
        link = node.get(part, getlink=True) if isinstance(node, h5py.Group) else None
        if link is None:
            raise CorruptCheckpointError(f"{path}: {where}: listed in {listed} but not a "
                                         f"{kind.__name__.lower()} in the file")
        if not isinstance(link, h5py.HardLink):
            raise CorruptCheckpointError(f"{path}: {where}: {name!r} is a {type(link).__name__}; expected a member "
                                         "stored in this file (soft and external links are not followed)")
        node = node[part]
    if not isinstance(node, kind) or not parts:
        raise CorruptCheckpointError(f"{path}: {where}: listed in {listed} but not a "
                                     f"{kind.__name__.lower()} in the file (a {type(node).__name__})")
    return node


def _dataset(h5py, obj, path: str, where: str, budget: int, file_size: int) -> np.ndarray:
    """The array of dataset ``obj``: numeric, stored in this file, and no larger than the file allows."""
    if obj.dtype.kind not in "biuf" or obj.dtype.subdtype is not None:
        raise CorruptCheckpointError(f"{path}: {where}: received dtype {obj.dtype}; expected a numeric array")
    if obj.external or obj.is_virtual:
        raise CorruptCheckpointError(f"{path}: {where}: its data is stored outside this file (external or "
                                     "virtual dataset); expected data inside the file")
    nbytes = int(np.prod(obj.shape or (), dtype=object)) * obj.dtype.itemsize
    limit = file_size if obj.chunks is None else budget  # chunks may be compressed; contiguous data may not
    if nbytes > limit:
        raise CorruptCheckpointError(f"{path}: {where}: shape {obj.shape} of {obj.dtype} declares {nbytes} bytes; "
                                     f"expected at most {limit} ({'the file size' if obj.chunks is None else 'ReadLimits'})")
    return np.asarray(obj[()])


def read_keras_hdf5(path, limits=None) -> KerasWeights:
    """Read every weight array of a Keras HDF5 file (see the module docstring for the layout).

    Parameters
    ----------
    path : str or os.PathLike
    limits : ReadLimits, optional
        A compressed (chunked) dataset may declare at most ``limits.npz_budget(file size)`` bytes
        (default :data:`refsim.io.limits.DEFAULT_LIMITS`); a contiguous one at most the file size.

    Raises
    ------
    ImportError : h5py is not installed (the message names the extra).
    FileNotFoundError : no file at ``path``.
    CorruptCheckpointError : not HDF5, truncated, damaged, not in the Keras layout, a non-numeric
        dataset, a link or data outside the file (names file and entry).
    """
    from refsim.io.limits import DEFAULT_LIMITS

    path = os.fspath(path)
    h5py = import_h5py()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Keras weights: no file at {path!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise CorruptCheckpointError(f"{path}: cannot be opened as HDF5 ({exc})") from None
    file_size = os.path.getsize(path)
    budget = (limits or DEFAULT_LIMITS).npz_budget(file_size)
    try:
        with f:
            return _read(h5py, f, path, budget, file_size)
    except CheckpointError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        # HDF5's own checks of a damaged file (bad heap, address past the end, bad version...)
        raise CorruptCheckpointError(f"{path}: cannot be read as a Keras HDF5 weight file: the HDF5 library "
                                     f"reports {type(exc).__name__}: {str(exc)[:160]}") from None


def _read(h5py, f, path: str, budget: int, file_size: int) -> KerasWeights:
    root = f
    if "layer_names" not in f.attrs and "model_weights" in f:
        root = _member(h5py, f, "model_weights", h5py.Group, path, "/")
    where = "/" if root is f else "/model_weights"
    attrs = {}
    for k, v in f.attrs.items():
        if isinstance(v, bytes):
            try:
                v = v.decode("utf8")
            except UnicodeDecodeError:
                continue  # informational attributes only (keras_version, backend): a bad one is skipped
        if isinstance(v, str):
            attrs[k] = v
    layers = {}
    for layer in _names(root.attrs, "layer_names", path, where):
        if layer not in root:
            raise CorruptCheckpointError(f"{path}: layer {layer!r} is listed in layer_names but has no group")
        group = _member(h5py, root, layer, h5py.Group, path, f"layer {layer!r}")
        weights = {}
        for name in _names(group.attrs, "weight_names", path, f"layer {layer!r}"):
            obj = _member(h5py, group, name, h5py.Dataset, path, f"{layer}/{name}", "weight_names")
            try:
                weights[name] = _dataset(h5py, obj, path, f"{layer}/{name}", budget, file_size)
            except OSError as exc:  # truncated or damaged data
                raise CorruptCheckpointError(f"{path}: {layer}/{name}: cannot be read ({exc})") from None
        layers[layer] = weights
    return KerasWeights(path, layers, attrs)
