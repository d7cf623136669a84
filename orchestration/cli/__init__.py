"""`healthscore`: the command line, one module per command; the parser is in main.py."""

from orchestration.cli.main import main

__all__ = ["main"]
