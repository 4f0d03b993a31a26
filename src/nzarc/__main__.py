"""``python -m nzarc``: the same as the ``nzarc`` command."""

import sys

from nzarc.cli import main

sys.exit(main())
