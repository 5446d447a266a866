"""``python -m refsim.cli``: the ``refsim`` command line."""

import sys

from refsim.cli.app import main

sys.exit(main())
