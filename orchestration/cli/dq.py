"""`healthscore dq`: the data-quality review of a quality run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestration.cli.common import _published_or_warehouse, _say
from orchestration.lib.settings import Settings


def cmd_dq(args: argparse.Namespace) -> int:
    from orchestration.lib.quality.review import UnknownSourceError, format_report, review

    settings = Settings.from_env()
    path = Path(args.db) if args.db else _published_or_warehouse(settings)
    if args.docs:
        from orchestration.lib.publish.tables import published_dir
        from orchestration.lib.quality.data_docs import build_data_docs

        out = Path(args.docs_dir) if args.docs_dir else published_dir(settings) / "data_docs"
        index = out / "index.html"
        if args.run_id or not index.exists():
            index = build_data_docs(path, out, run_id=args.run_id)
        print(index.resolve())
        return 0
    try:
        report = review(path, run_id=args.run_id, source=args.source)
    except UnknownSourceError as error:
        print(f"healthscore dq: {error}", file=sys.stderr)
        return 2
    # The failing-rows queries read raw.*, which only the live warehouse has.
    _say(format_report(report, warehouse=settings.warehouse_path))
    return report.exit_code
