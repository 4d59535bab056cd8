"""``python -m riskengine``: the command line."""

import sys

from riskengine.cli import main

sys.exit(main())
