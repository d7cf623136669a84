"""`healthscore`: the command line for data engineers and reviewers.

healthscore demo-data --accounts 500 --days 365 --seed 42
healthscore run                       # materialise every asset, print a summary
healthscore dev [--example ravenstack] # the Dagster UI (make dev)
healthscore summary                   # the summary of the published scores
healthscore sql ["select ..."]        # SQL on the published snapshot, read-only (a prompt without a query)
healthscore scorecard render scorecards/default.yml
healthscore gen-docs                  # regenerate dbt sources + docs/sources.md from the contracts
healthscore dq [--run-id ID] [--source S] [--docs]   # data-quality review
healthscore report [--out data/published/report.html]
healthscore export-postgres --dsn postgresql://...
"""

from __future__ import annotations

import argparse
import os
import sys

from orchestration.cli.backtest import cmd_backtest
from orchestration.cli.dev import cmd_dev
from orchestration.cli.docs import cmd_gen_docs
from orchestration.cli.dq import cmd_dq
from orchestration.cli.export import cmd_export_postgres
from orchestration.cli.features import cmd_features
from orchestration.cli.report import cmd_report
from orchestration.cli.run import cmd_demo_data, cmd_run
from orchestration.cli.scorecard import cmd_scorecard_diff, cmd_scorecard_learn, cmd_scorecard_render
from orchestration.cli.sql import cmd_sql
from orchestration.cli.summary import cmd_summary
from orchestration.lib.scoring.scorecard import scorecard_in_use


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="healthscore", description="Account health scoring warehouse.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo-data", help="generate demo landing files (Parquet) for every source")
    p.add_argument("--accounts", type=int, default=500)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--end-date", help="last day of data (default: today, UTC, or $HEALTHSCORE_TODAY)")
    p.add_argument("--landing", help="landing folder (default: $HEALTHSCORE_LANDING_DIR or data/landing)")
    p.set_defaults(func=cmd_demo_data)

    p = sub.add_parser("run", help="materialise every asset and print a summary")
    p.add_argument(
        "--as-of", default="", help="score this day's partition (ISO date); default: the latest day with data"
    )
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental models (features, BI tables) from scratch instead of adding what is new",
    )
    p.add_argument(
        "--scorecard",
        default="",
        help="score with this scorecard (a learned one you reviewed; default: HEALTHSCORE_SCORECARD, "
        "else scorecards/default.yml)",
    )
    p.add_argument("--as-of-start", default="", help="first as_of_date to score (default: the latest)")
    p.add_argument("--as-of-end", default="", help="last as_of_date to score (default: the latest)")
    p.add_argument("--demo-accounts", type=int, default=int(os.environ.get("DEMO_ACCOUNTS", 500)))
    p.add_argument("--demo-days", type=int, default=int(os.environ.get("DEMO_DAYS", 365)))
    p.add_argument(
        "--first-run-history-days",
        type=int,
        default=90,
        help="on a warehouse with no scores yet, also score this many days back (default 90)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print the pipeline's progress messages (rows loaded, dbt models, score versions)",
    )
    p.add_argument(
        "--log-level",
        default="",
        choices=["", "DEBUG", "INFO", "WARNING", "ERROR"],
        help="INFO: as -v; DEBUG: every Dagster event (the log file always has everything)",
    )
    p.add_argument(
        "--example", default="", help="run a worked example on real data (examples/<name>/), then backtest it"
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("dev", help="the Dagster UI (dagster dev) on the demo's or an example's run history")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument(
        "--example", default="", help="an example's warehouse and run history (as `run --example` wrote them)"
    )
    p.set_defaults(func=cmd_dev)

    p = sub.add_parser("summary", help="summarise the published scores")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser(
        "sql",
        help="run SQL on the published snapshot, read-only (an interactive prompt without a query)",
        description="SQL on the published snapshot (data/published/healthscore_published.duckdb), opened "
        "read-only: it never blocks a running pipeline. Without a query and on a terminal: a prompt "
        "(statements end with ';', .tables lists the tables, .quit leaves). Piped input is run as is.",
    )
    p.add_argument("query", nargs="*", help="statements to run (each argument may hold several)")
    p.add_argument("-f", "--file", help="run the statements of this file")
    p.add_argument("--db", help="DuckDB file to open (default: the published snapshot, else the warehouse)")
    p.add_argument("--csv", action="store_true", help="print results as CSV (every value whole)")
    p.add_argument("--max-rows", type=int, default=40, help="rows shown per result in the table view")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser(
        "dq", help="failing quality checks and quarantined rows (exit 1 on an error-severity failure)"
    )
    p.add_argument("--run-id", help="quality run to review (default: the latest)")
    p.add_argument("--source", help="only this source")
    p.add_argument("--db", help="DuckDB file to read (default: the published snapshot, else the warehouse)")
    p.add_argument(
        "--docs", action="store_true", help="build (if needed) the offline GX Data Docs and print index.html"
    )
    p.add_argument("--docs-dir", help="Data Docs folder (default: data/published/data_docs)")
    p.set_defaults(func=cmd_dq)

    p = sub.add_parser(
        "features", help="list the features of the feature mart with their types (docs/features.md)"
    )
    p.add_argument("--db", help="DuckDB file to read (default: the published snapshot, else the warehouse)")
    p.add_argument(
        "--all", action="store_true", help="also list the columns that are not features (keys, label)"
    )
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("report", help="write the static HTML health report")
    p.add_argument("--out", help="output file (default: data/published/report.html)")
    p.add_argument("--db", help="DuckDB file to read (default: the published snapshot, else the warehouse)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export-postgres", help="replace the published tables in PostgreSQL (one transaction)")
    p.add_argument(
        "--dsn",
        default=os.environ.get("HEALTHSCORE_POSTGRES_DSN"),
        required=not os.environ.get("HEALTHSCORE_POSTGRES_DSN"),
    )
    p.add_argument("--db", help="snapshot to export (default: data/published/healthscore_published.duckdb)")
    p.set_defaults(func=cmd_export_postgres)

    p = sub.add_parser("gen-docs", help="regenerate files derived from the source contracts")
    p.set_defaults(func=cmd_gen_docs)

    p = sub.add_parser("scorecard", help="scorecard tools")
    ssub = p.add_subparsers(dest="scorecard_command", required=True)
    r = ssub.add_parser("render", help="render a scorecard as a readable Markdown page")
    r.add_argument("path")
    r.add_argument("--out", help="write to this file instead of stdout")
    r.set_defaults(func=cmd_scorecard_render)
    r = ssub.add_parser(
        "diff", help="impact preview: which accounts change grade between two scorecards, and why"
    )
    r.add_argument("old")
    r.add_argument("new")
    r.add_argument("--as-of", default="", help="as_of_date to compare (default: the latest)")
    r.add_argument("--out", help="also write the Markdown report to this file")
    r.set_defaults(func=cmd_scorecard_diff)
    r = ssub.add_parser(
        "learn",
        help="learn bins, points, bands and a churn probability from outcomes; write a reviewable scorecard",
    )
    r.add_argument("--scorecard", default=scorecard_in_use(), help="the card to start from")
    r.add_argument("--out", default="", help="where to write it (default: scorecards/learned-<date>.yml)")
    r.add_argument("--horizon", default="90d", help="label: churn within this long after each as_of date")
    r.add_argument("--every", default="7d", help="sample an as_of date this often (histories)")
    r.add_argument("--from", dest="start", default="", help="first as_of_date")
    r.add_argument("--to", dest="end", default="", help="last as_of_date (a snapshot: its date)")
    r.add_argument(
        "--label",
        choices=("auto", "history", "snapshot"),
        default="auto",
        help="snapshot: label = the churn flag on the date itself (default: when no date has a horizon after it)",
    )
    r.add_argument("--holdout", type=float, default=0.25, help="share of accounts held out (snapshots)")
    r.add_argument("--max-factors", type=int, default=15)
    r.add_argument("--max-bins", type=int, default=6)
    r.add_argument(
        "--shape",
        choices=("monotone", "free"),
        default="monotone",
        help="numeric bins: points rise or fall with the value (monotone, default) or any shape (free)",
    )
    r.add_argument(
        "--max-interactions", type=int, default=4, help="factors whose bins may depend on a category"
    )
    r.add_argument("--exclude", action="append", default=[], help="a feature never to use (repeatable)")
    r.add_argument("--only", action="append", default=[], help="use only these features (repeatable)")
    r.add_argument("--bootstrap", type=int, default=300)
    r.set_defaults(func=cmd_scorecard_learn)

    p = sub.add_parser("backtest", help="score past dates and measure against outcomes (docs/backtesting.md)")
    p.add_argument("--scorecard", default=scorecard_in_use())
    p.add_argument(
        "--from", dest="start", default="", help="first as_of_date (default: data start + 60 days)"
    )
    p.add_argument("--to", dest="end", default="", help="last as_of_date (default: data end - horizon)")
    p.add_argument("--horizon", default="90d")
    p.add_argument("--every", default="7d")
    p.add_argument("--challenger", help="a second scorecard compared on the same history")
    p.add_argument(
        "--suggest", action="store_true", help="fit suggested weights and backtest them out of time"
    )
    p.add_argument(
        "--suggest-out",
        help="where to write the suggested scorecard (default: scorecards/suggested-<date>.yml)",
    )
    p.add_argument(
        "--leakage-dates", type=int, default=1, help="dates rebuilt by the leakage guard (0: skip)"
    )
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--out", default="reports/backtest")
    p.add_argument(
        "--no-write",
        action="store_true",
        help="write nothing: no backtest.* rows, no report file, no suggested scorecard (print the results only)",
    )
    p.add_argument(
        "--label",
        choices=("auto", "history", "snapshot"),
        default="auto",
        help="snapshot: score the data's own date against its churn flag (default: when no date has a horizon after it)",
    )
    p.set_defaults(func=cmd_backtest)

    args = parser.parse_args(argv)
    from orchestration.lib.engines.warehouse import WarehouseLockedError
    from orchestration.lib.ingest.declarations import MappingError
    from orchestration.lib.scoring.scorecard import ScorecardError

    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except (ScorecardError, MappingError, WarehouseLockedError) as exc:
        # configuration or a reader holding the warehouse: the message says what to fix, no traceback
        print(f"healthscore {args.command}: {exc}", file=sys.stderr)
        return 2


def entry() -> None:
    """The `healthscore` command (and `python -m orchestration.cli`): `main()`, then exit without
    Python's teardown of the heap, which after a pipeline run (dbt's parsed project, Dagster's
    definitions) took about 2 s of a 35 s daily run at M doing nothing a user needs. Output
    streams and logging handlers are flushed first, multiprocessing's exit handler runs; every
    connection and file a command opens is closed by then (context managers). An exception still
    ends the normal way, with its traceback."""
    import logging
    from multiprocessing import util

    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    # What atexit would run for multiprocessing: dbt's locks are named semaphores, released here
    # (else the resource tracker warns of leaked semaphores).
    util._exit_function()
    os._exit(0 if code is None else code if isinstance(code, int) else 1)  # as SystemExit(code)
