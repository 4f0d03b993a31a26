"""``python -m bench``: see :func:`bench.main`."""

import sys

from bench import main

sys.exit(main())
