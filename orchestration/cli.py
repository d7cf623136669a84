"""`healthscore`: the command line for data engineers and reviewers.

healthscore demo-data --accounts 500 --days 365 --seed 42
healthscore run                       # materialise every asset, print a summary
healthscore summary                   # the summary of the published scores
healthscore scorecard render scorecards/default.yml
healthscore gen-docs                  # regenerate dbt sources + docs/sources.md from the contracts
healthscore dq [--run-id ID] [--source S] [--docs]   # data-quality review
healthscore report [--out data/published/report.html]
healthscore export-postgres --dsn postgresql://...
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

from orchestration.lib.settings import PROJECT_ROOT, Settings


def _say(msg: str) -> None:
    print(msg, flush=True)


def _dagster_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\nfreshness:\n  enabled: true\n")
    return home


def ensure_manifest(force: bool = False) -> Path:
    """dagster-dbt needs target/manifest.json at import time: parse when missing or out of date."""
    project = PROJECT_ROOT / "dbt_project"
    manifest = project / "target" / "manifest.json"
    sources = [
        p for p in project.rglob("*") if p.suffix in {".sql", ".yml", ".yaml"} and "target" not in p.parts
    ]
    if (
        not force
        and manifest.exists()
        and all(p.stat().st_mtime <= manifest.stat().st_mtime for p in sources)
    ):
        return manifest
    _say("Parsing the dbt project (target/manifest.json) ...")
    env = {**os.environ, "HEALTHSCORE_WAREHOUSE": str(Settings.from_env().warehouse_path)}
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [
            str(dbt) if dbt.exists() else "dbt",
            "parse",
            "--quiet",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
        ],
        check=True,
        env=env,
    )
    return manifest


def cmd_demo_data(args: argparse.Namespace) -> int:
    from orchestration.lib.demo_data import generate_demo_data

    landing = Path(args.landing) if args.landing else Settings.from_env().landing_dir
    end = dt.date.fromisoformat(args.end_date) if args.end_date else None
    summary = generate_demo_data(
        landing, accounts=args.accounts, days=args.days, seed=args.seed, end_date=end, progress=_say
    )
    _say(f"Demo data written to {landing}:")
    for key, value in summary.items():
        _say(f"  {key}: {value}")
    return 0


def _landing_is_empty(landing: Path) -> bool:
    return not any(p.is_file() for p in landing.rglob("*")) if landing.exists() else True


def _stage_seconds(instance, run_id: str) -> dict[str, float]:
    from dagster import DagsterEventType

    starts: dict[str, float] = {}
    stages: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[entry.step_key] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            key = entry.step_key
            if "quality" in key or "check" in key:
                stage = "quality checks"
            elif key.startswith("raw_"):
                stage = "ingest"
            elif "health_scores" in key:
                stage = "scoring"
            elif "dbt" in key:
                stage = "dbt build"
            else:
                stage = key
            stages[stage] = stages.get(stage, 0.0) + entry.timestamp - starts.get(key, entry.timestamp)
    return stages


def cmd_run(args: argparse.Namespace) -> int:
    example = None
    if args.example:  # examples/<name>/: mappings onto real data (docs/bring-your-own-data.md)
        from orchestration.lib.examples import apply_example

        example = apply_example(args.example, say=_say)
        args.as_of = args.as_of or example.reference_date.isoformat()
    settings = Settings.from_env()
    # dbt's profile reads the warehouse path from the environment.
    os.environ.setdefault("HEALTHSCORE_WAREHOUSE", str(settings.warehouse_path))
    started = time.perf_counter()
    timings: dict[str, float] = {}
    if _landing_is_empty(settings.landing_dir) and not os.environ.get("HEALTHSCORE_MAPPINGS_DIR"):
        _say(
            f"Landing zone {settings.landing_dir} is empty: generating demo data ({args.demo_accounts} accounts)."
        )
        t0 = time.perf_counter()
        from orchestration.lib.demo_data import generate_demo_data

        generate_demo_data(
            settings.landing_dir, accounts=args.demo_accounts, days=args.demo_days, progress=_say
        )
        timings["demo data"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ensure_manifest()
    home = _dagster_home()
    timings["dbt parse"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    _say("Loading the Dagster definitions ...")
    from dagster import DagsterInstance

    from orchestration.definitions import build_definitions
    from orchestration.defs.resources import WarehouseResource

    # Built from this run's settings (not the module-level `defs`, whose resource was fixed when
    # the module was first imported: an --example run in the same process must use its own files).
    defs = build_definitions(
        WarehouseResource(warehouse_path=str(settings.warehouse_path), landing_dir=str(settings.landing_dir))
    )

    timings["load definitions"] = time.perf_counter() - t0
    # INFO: our progress lines and dbt's, without Dagster's per-event DEBUG lines.
    run_config: dict = {"ops": {}, "loggers": {"console": {"config": {"log_level": args.log_level}}}}
    dates: dict = {k: v for k, v in (("as_of_start", args.as_of_start), ("as_of_end", args.as_of_end)) if v}
    if not dates and not args.as_of and not _has_published_scores(settings):
        # First run: score a history too, so trends and week-on-week movers have something to show.
        dates["history_days"] = args.first_run_history_days
        _say(f"No published scores yet: scoring the last {args.first_run_history_days} days as history.")
    if dates:
        run_config["ops"]["scores__health_scores"] = {"config": dates}
    job = defs.resolve_job_def("healthscore_all")
    if args.full_refresh:
        _say(
            "--full-refresh: the incremental dbt models are rebuilt from scratch (the last year of features)."
        )
        for node in job.graph.node_dict:  # dagster-dbt splits the dbt project into several steps
            if node.startswith("healthscore_dbt_models"):
                run_config["ops"][node] = {"config": {"full_refresh": True}}
    _say("Materialising every asset (ingest -> quality gates -> dbt -> scoring) ...")
    instance = DagsterInstance.get()
    t0 = time.perf_counter()
    result = job.execute_in_process(
        instance=instance,
        run_config=run_config,
        raise_on_error=False,
        # --as-of scores that day's partition; without it, the latest day the features cover.
        partition_key=args.as_of or None,
    )
    timings["pipeline run"] = time.perf_counter() - t0
    for stage, seconds in sorted(_stage_seconds(instance, result.run_id).items()):
        timings[f"  {stage}"] = seconds
    print_summary(settings, run_id=result.run_id, dagster_home=home)
    _say("")
    _say("Timing:")
    for name, seconds in timings.items():
        _say(f"  {name:<22}{seconds:8.2f} s")
    _say(f"  {'total':<22}{time.perf_counter() - started:8.2f} s")
    if not result.success:
        _say("")
        _say(f"RUN FAILED (run id {result.run_id}). The published scores are unchanged.")
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                _say(f"  step {event.step_key} failed: {event.event_specific_data.error.message.strip()}")
        return 1
    if example is not None:
        from orchestration.lib.examples import backtest_example

        backtest_example(example, settings.warehouse_path, say=_say)
    return 0


def _readable_warehouse(settings: Settings) -> Path:
    """The DuckDB file to summarise: the warehouse itself, or on PostgreSQL / Spark the snapshot
    that every run publishes from the engine (docs/scale-out.md)."""
    from orchestration.lib.engines import engine_name

    if engine_name() == "duckdb":
        return settings.warehouse_path
    from orchestration.lib.publish import SNAPSHOT_NAME, published_dir

    return published_dir(settings) / SNAPSHOT_NAME


def _has_published_scores(settings: Settings) -> bool:
    path = _readable_warehouse(settings)
    if not path.exists():
        return False
    from orchestration.lib.warehouse import connect

    with connect(path, read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'scores' and table_name = 'score_runs'"
        ).fetchone()[0]
        return bool(exists) and con.execute("select count(*) from scores.score_runs").fetchone()[0] > 0


def print_summary(settings: Settings, run_id: str | None = None, dagster_home: Path | None = None) -> None:
    from orchestration.lib.warehouse import connect

    path = _readable_warehouse(settings)
    _say("")
    _say("=" * 78)
    if not path.exists():
        _say(f"No warehouse at {path} yet: run `make run`.")
        return
    with connect(path, read_only=True) as con:
        has = {
            r[0] + "." + r[1]
            for r in con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        }
        if "scores.health_scores_current" in has:
            run = con.execute(
                """select score_version, scorecard_name, scorecard_version, as_of_end, accounts_scored, run_id
                from scores.score_runs order by score_version desc limit 1"""
            ).fetchone()
            if run:
                _say(
                    f"Published scores: version {run[0]} (scorecard {run[1]} {run[2]}), as of {run[3]}, "
                    f"{run[4]:,} accounts scored"
                )
                grades = con.execute(
                    """select grade, count(*) from scores.health_scores_current
                    where objective = 'retention_risk' group by grade
                    order by case grade when 'red' then 1 when 'yellow' then 2 when 'green' then 3
                    when 'insufficient_data' then 4 else 5 end"""
                ).fetchall()
                total = sum(n for _, n in grades) or 1
                _say("Retention health grades:")
                for grade, n in grades:
                    _say(f"  {grade:<18}{n:6,}  {100 * n / total:5.1f}%  {'#' * round(40 * n / total)}")
                _say("10 most at-risk accounts (retention health, lowest first):")
                rows = con.execute(
                    """select account_id, segment, round(health_score, 1), grade, round(confidence, 2),
                        coalesce(top_reasons, '')
                    from scores.health_scores_current
                    where objective = 'retention_risk' and grade not in ('churned', 'insufficient_data')
                    order by health_score asc nulls last, account_id limit 10"""
                ).fetchall()
                for acc, seg, score, grade, conf, reasons in rows:
                    _say(f"  {acc:<12}{seg or '':<12}{score:6.1f} {grade:<7} conf {conf:.2f}  {reasons[:90]}")
        else:
            _say("No scores published yet.")
        if "raw._load_batches" in has:
            q = con.execute(
                "select sum(rows_loaded), sum(rows_quarantined), count(*) from raw._load_batches"
            ).fetchone()
            _say(
                f"Raw rows loaded: {q[0] or 0:,} from {q[2]} files; quarantined: {q[1] or 0:,} (raw._quarantine)"
            )
        if "quality.check_results" in has:
            where = (
                "where run_id = ?"
                if run_id
                else "where run_id = (select max_by(run_id, checked_at) from quality.check_results)"
            )
            failed = con.execute(
                f"""select severity, check_name, unexpected_count
                from quality.check_results {where} and not passed
                order by case severity when 'error' then 0 else 1 end, source, category""",
                [run_id] if run_id else [],
            ).fetchall()
            _say(f"Failed quality checks this run: {len(failed)}")
            for sev, check_name, n in failed[:15]:
                _say(f"  [{sev}] {check_name} ({n if n is not None else '-'} unexpected)")
            if len(failed) > 15:
                _say(f"  ... and {len(failed) - 15} more: select * from quality.check_results")
    _say(f"Warehouse: {path}")
    _say(
        "Open it read-only:  .venv/bin/python -c \"import duckdb; duckdb.connect('"
        + str(path)
        + "', read_only=True)\""
    )
    _say("Dagster UI:         make dev   (then http://127.0.0.1:3000)")
    if dagster_home:
        _say(f"Run history:        DAGSTER_HOME={dagster_home}")
    _say("=" * 78)


def cmd_summary(_args: argparse.Namespace) -> int:
    print_summary(Settings.from_env())
    return 0


def _published_or_warehouse(settings: Settings) -> Path:
    """The published snapshot when there is one (never blocks on a running pipeline), else the warehouse."""
    from orchestration.lib.publish import SNAPSHOT_NAME, published_dir

    snapshot = published_dir(settings) / SNAPSHOT_NAME
    return snapshot if snapshot.exists() else settings.warehouse_path


def cmd_dq(args: argparse.Namespace) -> int:
    from orchestration.lib.dq import format_report, review

    settings = Settings.from_env()
    path = Path(args.db) if args.db else _published_or_warehouse(settings)
    if args.docs:
        from orchestration.lib.publish import published_dir
        from orchestration.lib.quality import build_data_docs

        out = Path(args.docs_dir) if args.docs_dir else published_dir(settings) / "data_docs"
        index = out / "index.html"
        if args.run_id or not index.exists():
            index = build_data_docs(path, out, run_id=args.run_id)
        print(index.resolve())
        return 0
    report = review(path, run_id=args.run_id, source=args.source)
    _say(format_report(report))
    return report.exit_code


def cmd_report(args: argparse.Namespace) -> int:
    from orchestration.lib.publish import published_dir
    from orchestration.lib.report import write_report

    settings = Settings.from_env()
    path = Path(args.db) if args.db else _published_or_warehouse(settings)
    out = write_report(path, Path(args.out) if args.out else published_dir(settings) / "report.html")
    _say(f"wrote {out} (from {path})")
    return 0


def cmd_export_postgres(args: argparse.Namespace) -> int:
    from orchestration.lib.publish import SNAPSHOT_NAME, export_postgres, publish, published_dir
    from orchestration.lib.warehouse import connect

    settings = Settings.from_env()
    snapshot = Path(args.db) if args.db else published_dir(settings) / SNAPSHOT_NAME
    if not snapshot.exists():
        _say(f"No snapshot at {snapshot}: publishing one from {settings.warehouse_path} first.")
        with connect(settings.warehouse_path) as con:
            snapshot = publish(con, snapshot.parent, parquet=False).snapshot_path
    counts = export_postgres(args.dsn, snapshot, log=_say)
    _say(f"Exported {len(counts)} tables ({sum(counts.values()):,} rows) from {snapshot} in one transaction.")
    return 0


def cmd_gen_docs(_args: argparse.Namespace) -> int:
    from orchestration.lib.docgen import write_generated_files

    for path in write_generated_files() or []:
        _say(f"wrote {path}")
    return 0


def cmd_scorecard_render(args: argparse.Namespace) -> int:
    from orchestration.lib.scorecard import load_scorecard
    from orchestration.lib.scorecard_render import render_markdown

    card = load_scorecard(args.path)
    text = render_markdown(card)
    if args.out:
        Path(args.out).write_text(text)
        _say(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from orchestration.lib.backtest_cli import run_backtest_command

    return run_backtest_command(args, say=_say)


def cmd_scorecard_diff(args: argparse.Namespace) -> int:
    from orchestration.lib.backtest_cli import scorecard_diff_command

    return scorecard_diff_command(args, say=_say)


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
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--example", default="", help="run a worked example on real data (examples/<name>/), then backtest it"
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("summary", help="summarise the published scores")
    p.set_defaults(func=cmd_summary)

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

    p = sub.add_parser("backtest", help="score past dates and measure against outcomes (docs/backtesting.md)")
    p.add_argument("--scorecard", default="scorecards/default.yml")
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
    p.add_argument("--no-write", action="store_true", help="do not append to the backtest.* tables")
    p.set_defaults(func=cmd_backtest)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
