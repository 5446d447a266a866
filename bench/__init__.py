"""Benchmarks of refsim (not part of the package): ``python -m bench`` runs the suite
(:mod:`bench.suite`); ``bench/bench_resnet50.py`` and ``bench/bench_parasitics.py`` are
standalone scripts. See docs/performance.md."""
