"""python -m orchestration.lib.sentiment evaluate | train | bench (see cli.py)."""

import sys

from orchestration.lib.sentiment.cli import main

sys.exit(main())
