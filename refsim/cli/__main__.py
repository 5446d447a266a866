"""``python -m refsim.cli ARGS``: the ``refsim`` command line without the installed script."""

import sys

from refsim.cli.app import main

sys.exit(main())
