"""``python -m nemorun.cli``: the ``nemorun`` command."""

import sys

from nemorun.cli import main

sys.exit(main())
