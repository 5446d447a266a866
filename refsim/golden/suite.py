"""A small suite of ready golden cases: every preset, untiled and tiled.

:func:`write_suite` writes, under ``out``, one directory per case (see
:data:`SUITE_CASES`) and an ``index.json`` listing them with their preset, shape,
batch and seed. The cases are small (tens of rows) so that a peer simulator can
run all of them in seconds; the tiled variants shrink the arrays to exercise tiling
and per-tile DAC/ADC.
"""

from __future__ import annotations

import json
from pathlib import Path

from refsim import presets
from refsim.golden.export import export_crossbar, random_case

__all__ = ["SUITE_CASES", "suite_cases", "write_suite"]

#: (suffix, n_in, n_out, batch, config changes) of the cases written for every preset.
SUITE_CASES = (
    ("small", 24, 10, 4, {}),
    ("tiled", 40, 12, 3, {"array.rows_max": 16, "array.cols_max": 8}),
)


def suite_cases(seed: int = 0) -> list[dict]:
    """The suite's case descriptions: name, preset, config, shape, batch and seed."""
    out = []
    for name in presets.names():
        base = presets.get(name)
        for suffix, n_in, n_out, batch, changes in SUITE_CASES:
            out.append({"case": f"{name}.{suffix}", "preset": name, "config": base.replace(**changes),
                        "shape": (n_in, n_out), "batch": batch, "seed": seed})
    return out


def write_suite(out: str | Path, seed: int = 0) -> list[Path]:
    """Write every case of :func:`suite_cases` under ``out``; returns the case directories."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    dirs, index = [], []
    for c in suite_cases(seed):
        w, x = random_case(*c["shape"], c["batch"], c["seed"])
        dirs.append(export_crossbar(root / c["case"], w, x, c["config"], c["seed"]))
        index.append({"case": c["case"], "preset": c["preset"], "shape": list(c["shape"]), "batch": c["batch"],
                      "seed": c["seed"], "dir": c["case"]})
    (root / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return dirs
