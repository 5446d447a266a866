"""Golden-reference workflow: exported test vectors, comparison, replay (``docs/golden.md``).

* :func:`export_crossbar` / :func:`export_layer` / :func:`export_network` write a
  directory of ``.npy`` arrays and a ``manifest.json`` (:mod:`refsim.golden.format`);
* :func:`load_golden` reads one back;
* :func:`compare_dirs` compares a candidate simulator's arrays stage by stage and
  names the first stage that departs;
* :func:`replay` re-runs a noisy case from its recorded draws, bit for bit;
* :func:`write_suite` writes ready cases for every preset.
"""

from refsim.golden.compare import CompareReport, StageDiff, compare_arrays, compare_dirs
from refsim.golden.export import (
    ReplayResult,
    export_crossbar,
    export_layer,
    export_network,
    export_trace,
    random_case,
    replay,
)
from refsim.golden.format import FORMAT_VERSION, Golden, GoldenWriter, load_golden
from refsim.golden.suite import suite_cases, write_suite

__all__ = [
    "FORMAT_VERSION",
    "CompareReport",
    "Golden",
    "GoldenWriter",
    "ReplayResult",
    "StageDiff",
    "compare_arrays",
    "compare_dirs",
    "export_crossbar",
    "export_layer",
    "export_network",
    "export_trace",
    "load_golden",
    "random_case",
    "replay",
    "suite_cases",
    "write_suite",
]
