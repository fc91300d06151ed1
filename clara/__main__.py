"""``python -m clara``: see ``clara.cli``."""

import sys

from clara.cli import main

sys.exit(main())
