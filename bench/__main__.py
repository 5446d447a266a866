"""``python -m bench [--quick] [--presets ...] [--out bench/results.md]``: see :mod:`bench.suite`."""
from bench.suite import main

raise SystemExit(main())
