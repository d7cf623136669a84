"""The landing sensor starts a run when a file arrives or changes, once per change."""

from __future__ import annotations

import os

import dagster as dg

from orchestration.defs.ops.sensors import landing_files_sensor


def test_sensor_fires_on_new_and_changed_files_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HEALTHSCORE_LANDING_DIR", str(tmp_path))
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
    assert request.partition_key  # today's as_of partition

    again = landing_files_sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))
    assert isinstance(again, dg.SkipReason)

    export.write_text("account_id\nA1\nA2\n")
    os.utime(export, (1, 2_000_000_000))
    changed = landing_files_sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))
    assert isinstance(changed, dg.RunRequest) and changed.run_key != request.run_key
