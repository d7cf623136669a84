"""The landing sensor starts a run when a file arrives or changes, once per change."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from orchestration.defs.ops.sensors import landing_files_sensor


def test_sensor_fires_on_new_and_changed_files_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HEALTHSCORE_LANDING_DIR", str(tmp_path))
    monkeypatch.setenv("HEALTHSCORE_TODAY", "2026-06-30")
    instance = dg.DagsterInstance.ephemeral()
    empty = landing_files_sensor(dg.build_sensor_context(instance=instance))
    assert "no new or changed files" in empty.skip_message

    (tmp_path / "accounts").mkdir()
    export = tmp_path / "accounts" / "crm.csv"
    export.write_text("account_id\nA1\n")
    (tmp_path / "accounts" / "notes.txt").write_text("not a landing format")
    context = dg.build_sensor_context(instance=instance)
    request = landing_files_sensor(context)
    assert isinstance(request, dg.RunRequest)
    assert request.tags["healthscore/new_files"] == "accounts/crm.csv"
    assert request.partition_key == "2026-06-30"  # today's as_of partition, as the clock says

    again = landing_files_sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))
    assert isinstance(again, dg.SkipReason)

    export.write_text("account_id\nA1\nA2\n")
    os.utime(export, (1, 2_000_000_000))
    changed = landing_files_sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))
    assert isinstance(changed, dg.RunRequest) and changed.run_key != request.run_key


def test_daily_schedule_scores_the_day_of_its_tick_moved_by_the_clock(monkeypatch):
    from orchestration.defs.ops.schedules import daily_refresh
    from orchestration.lib import clock

    tick = dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.UTC)
    # the real clock read when the tick runs: offsets of HEALTHSCORE_TODAY count from its date
    monkeypatch.setattr(clock, "_real_now", lambda: tick.replace(tzinfo=None))
    monkeypatch.delenv("HEALTHSCORE_TODAY", raising=False)
    request = daily_refresh(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == tick.date().isoformat()
    monkeypatch.setenv("HEALTHSCORE_TODAY", (tick.date() + dt.timedelta(days=23)).isoformat())
    moved = daily_refresh(dg.build_schedule_context(scheduled_execution_time=tick))
    assert moved.partition_key == (tick.date() + dt.timedelta(days=23)).isoformat()
    assert moved.run_key == f"daily-{moved.partition_key}"
