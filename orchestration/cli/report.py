"""`healthscore report`: the static HTML health report."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestration.cli.common import _published_or_warehouse, _say
from orchestration.lib.settings import Settings


def cmd_report(args: argparse.Namespace) -> int:
    from orchestration.lib.publish.tables import published_dir
    from orchestration.lib.reporting.health_report import write_report

    settings = Settings.from_env()
    path = Path(args.db) if args.db else _published_or_warehouse(settings)
    out = write_report(path, Path(args.out) if args.out else published_dir(settings) / "report.html")
    _say(f"wrote {out} (from {path})")
    return 0
