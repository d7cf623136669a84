"""`healthscore run`'s quiet terminal shows the progress lines of long steps, and its run history
is written through pooled SQLite connections that leave the same readable record."""

import io

import dagster as dg

from orchestration.cli.event_log import pooled_sqlite_event_log
from orchestration.cli.progress import QUIET, progress_logger, readable
from orchestration.lib.progress import PROGRESS_PREFIX, Progress


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_reports_at_most_once_per_interval() -> None:
    lines: list[str] = []
    clock = _Clock()
    progress = Progress(lines.append, every=15, clock=clock)
    assert not progress("chunk 1 of 9")  # a step shorter than the interval prints nothing
    clock.now += 16
    assert progress("chunk 2 of 9")
    clock.now += 5
    assert not progress("chunk 3 of 9")
    clock.now += 15
    assert progress("chunk 4 of 9")
    assert lines == [f"{PROGRESS_PREFIX}chunk 2 of 9 (16 s in)", f"{PROGRESS_PREFIX}chunk 4 of 9 (36 s in)"]


@dg.asset
def long_step(context: dg.AssetExecutionContext) -> None:
    context.log.info("rows loaded: 12")  # -v only
    context.log.info(f"{PROGRESS_PREFIX}date chunk 2 of 9 written (40 s in)")
    for i in range(40):
        context.log.debug(f"dbt: {i} of 40 PASS")


def _run(instance: dg.DagsterInstance, out: io.StringIO, log: io.StringIO) -> dg.ExecuteInProcessResult:
    job = dg.define_asset_job("progress_job", selection=[long_step], executor_def=dg.in_process_executor)
    defs = dg.Definitions(assets=[long_step], jobs=[job])
    return (
        defs.resolve_job_def("progress_job")
        .with_logger_defs({"healthscore": progress_logger(QUIET, log, out)})
        .execute_in_process(instance=instance, run_config={"loggers": {"healthscore": {}}})
    )


def test_quiet_terminal_shows_progress_lines_and_the_file_everything() -> None:
    out, log = io.StringIO(), io.StringIO()
    assert _run(dg.DagsterInstance.ephemeral(), out, log).success
    terminal = out.getvalue()
    assert "long_step: date chunk 2 of 9 written (40 s in)" in terminal
    assert PROGRESS_PREFIX not in terminal
    assert "rows loaded" not in terminal and "PASS" not in terminal
    assert "rows loaded: 12" in log.getvalue() and "dbt: 39 of 40 PASS" in log.getvalue()


def test_pooled_event_log_leaves_the_same_run_history(tmp_path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = instance.event_log_storage
        log = io.StringIO()
        with pooled_sqlite_event_log(instance) as applied:
            assert applied
            result = _run(instance, io.StringIO(), log)
            for shard in (result.run_id, "index"):  # commits append to the WAL without an fsync each
                with storage._connect(shard) as conn:
                    assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
                    assert conn.exec_driver_sql("pragma synchronous").scalar() == 1  # NORMAL
        assert result.success
        assert "_connect" not in vars(storage)  # Dagster's own method again
        events = len(instance.all_logs(result.run_id))
        # dbt's DEBUG lines (a test passed) are in the run's log file, not in the run history
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
        assert "rows loaded: 12" in messages and not any(m.startswith("dbt: ") for m in messages)
        assert "dbt: 39 of 40 PASS" in log.getvalue()
        assert events > 10
    # A new process's view: every event, the materialization and the run's status are on disk.
    with dg.instance_for_test(temp_dir=str(tmp_path)) as reader:
        assert len(reader.all_logs(result.run_id)) == events
        assert reader.get_latest_materialization_event(dg.AssetKey("long_step")).run_id == result.run_id
        assert reader.get_run_by_id(result.run_id).is_success


def test_pooled_event_log_leaves_other_storages_alone() -> None:
    instance = dg.DagsterInstance.ephemeral()
    with pooled_sqlite_event_log(instance) as applied:
        assert not applied
        assert _run(instance, io.StringIO(), io.StringIO()).success


def test_pooled_event_log_asks_once_whether_a_table_exists(tmp_path, monkeypatch) -> None:
    # Dagster asks before every asset check event (a new engine and connection each time).
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = instance.event_log_storage
        asked: list[str] = []
        original = type(storage).has_table
        monkeypatch.setattr(
            type(storage), "has_table", lambda self, name: asked.append(name) or original(self, name)
        )
        with pooled_sqlite_event_log(instance):
            assert storage.supports_asset_checks and storage.supports_asset_checks
            assert not storage.has_table("no_such_table") and not storage.has_table("no_such_table")
        assert asked == ["asset_check_executions", "no_such_table", "no_such_table"]
        assert "has_table" not in vars(storage)  # Dagster's own method again


def test_a_step_that_did_not_run_names_each_upstream_step_once() -> None:
    message = (
        "Dependencies for step healthscore_dbt_models_3 were not executed: ['healthscore_dbt_models_2', "
        "'healthscore_dbt_models_2', 'sentiment__text_scores', 'healthscore_dbt_models_2']. Not executing."
    )
    assert readable(message) == (
        "Dependencies for step healthscore_dbt_models_3 were not executed: healthscore_dbt_models_2, "
        "sentiment__text_scores. Not executing."
    )
    failed = "Dependencies for step dbt_2 failed: ['raw_usage_events_quality']. Not executing."
    assert readable(failed) == "Dependencies for step dbt_2 failed: raw_usage_events_quality. Not executing."
    assert readable("any other message [a, a]") == "any other message [a, a]"
