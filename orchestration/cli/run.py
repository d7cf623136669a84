"""`healthscore run` (materialise every asset, print a summary) and `healthscore demo-data`."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

from orchestration.cli.common import (
    _dagster_home,
    _has_published_scores,
    _landing_is_empty,
    _say,
    ensure_manifest,
)
from orchestration.cli.summary import print_summary
from orchestration.lib.settings import Settings


def cmd_demo_data(args: argparse.Namespace) -> int:
    from orchestration.lib.demo.generate import generate_demo_data

    landing = Path(args.landing) if args.landing else Settings.from_env().landing_dir
    end = dt.date.fromisoformat(args.end_date) if args.end_date else None
    summary = generate_demo_data(
        landing, accounts=args.accounts, days=args.days, seed=args.seed, end_date=end, progress=_say
    )
    _say(f"Demo data written to {landing}:")
    for key, value in summary.items():
        _say(f"  {key}: {value}")
    return 0


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


def _prefetch_great_expectations() -> None:
    """Import Great Expectations (about 3 s) on a background thread: the quality checks need it
    after the ingest steps, which mostly wait on DuckDB, so the import overlaps them instead of
    delaying the first check. A failure here is ignored: the checks import it again and report."""
    import threading

    def work() -> None:
        try:
            from orchestration.lib.quality.suites import _gx

            _gx()
        except Exception:  # noqa: BLE001 - reported by the check that needs it
            pass

    threading.Thread(target=work, name="gx-import", daemon=True).start()


def cmd_run(args: argparse.Namespace) -> int:
    example = None
    if args.example:  # examples/<name>/: mappings onto real data (docs/bring-your-own-data.md)
        from orchestration.lib.ingest.examples import apply_example

        example = apply_example(args.example, say=_say)
        args.as_of = args.as_of or example.reference_date.isoformat()
    if args.scorecard:  # refused now, not after ingest and dbt; the example's backtest uses it too
        from orchestration.lib.scoring.scorecard import SCORECARD_ENV, ScorecardError, load_scorecard
        from orchestration.lib.settings import project_path

        try:
            load_scorecard(project_path(args.scorecard))
        except ScorecardError as error:
            _say(f"healthscore run: {error}")
            return 2
        args.scorecard = str(project_path(args.scorecard).resolve())
        os.environ[SCORECARD_ENV] = args.scorecard
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
        from orchestration.lib.demo.generate import generate_demo_data

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
    # The terminal gets a line per stage, warnings and errors (-v: our progress messages too,
    # --log-level DEBUG: everything); the log file gets everything.
    from orchestration.cli.progress import DEBUG, QUIET, VERBOSE, progress_logger

    verbosity = (
        DEBUG if args.log_level == "DEBUG" else VERBOSE if args.verbose or args.log_level == "INFO" else QUIET
    )
    log_dir = settings.warehouse_path.parent.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"run-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.log"
    run_config: dict = {"ops": {}, "loggers": {"healthscore": {}}}
    dates: dict = {k: v for k, v in (("as_of_start", args.as_of_start), ("as_of_end", args.as_of_end)) if v}
    if not dates and not args.as_of and not _has_published_scores(settings):
        # First run: score a history too, so trends and week-on-week movers have something to show.
        dates["history_days"] = args.first_run_history_days
        _say(f"No published scores yet: scoring the last {args.first_run_history_days} days as history.")
    scoring = {**dates, **({"scorecard": args.scorecard} if args.scorecard else {})}
    if scoring:
        run_config["ops"]["scores__health_scores"] = {"config": scoring}
    job = defs.resolve_job_def("healthscore_all")
    if args.full_refresh:
        _say(
            "--full-refresh: the incremental dbt models are rebuilt from scratch (the last year of features)."
        )
        for node in job.graph.node_dict:  # dagster-dbt splits the dbt project into several steps
            if node.startswith("healthscore_dbt_models"):
                run_config["ops"][node] = {"config": {"full_refresh": True}}
    _say(
        f"Materialising every asset (ingest -> quality gates -> dbt -> scoring -> publish); full log: {log_file}"
    )
    from orchestration.cli.event_log import pooled_sqlite_event_log

    instance = DagsterInstance.get()
    _prefetch_great_expectations()
    t0 = time.perf_counter()
    # The run history through one open connection per file, not one per event (event_log.py).
    with log_file.open("w", encoding="utf-8") as log, pooled_sqlite_event_log(instance):
        result = job.with_logger_defs({"healthscore": progress_logger(verbosity, log)}).execute_in_process(
            instance=instance,
            run_config=run_config,
            raise_on_error=False,
            # --as-of scores that day's partition; without it, the latest day the features cover.
            partition_key=args.as_of or None,
        )
        timings["pipeline run"] = time.perf_counter() - t0
        for stage, seconds in sorted(_stage_seconds(instance, result.run_id).items()):
            timings[f"  {stage}"] = seconds
    print_summary(
        settings,
        run_id=result.run_id,
        dagster_home=home,
        log_file=log_file,
        example=example.name if example else "",
    )
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
        from orchestration.lib.ingest.examples import backtest_example

        backtest_example(example, settings.warehouse_path, say=_say)
    return 0
