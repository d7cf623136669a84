"""python -m orchestration.cli: the same as the `healthscore` command."""

from orchestration.cli.main import entry

entry()
