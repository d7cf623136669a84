"""`healthscore gen-docs`: regenerate the files derived from the source contracts."""

from __future__ import annotations

import argparse

from orchestration.cli.common import _say


def cmd_gen_docs(_args: argparse.Namespace) -> int:
    from orchestration.lib.contracts.docgen import write_generated_files

    for path in write_generated_files() or []:
        _say(f"wrote {path}")
    return 0
