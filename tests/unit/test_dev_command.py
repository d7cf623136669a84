"""`healthscore dev --example`: the UI opens the example's own run history and warehouse, never the
demo's (issue 21: RavenStack's runs showed on the demo's asset pages)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from orchestration.cli.dev import dev_command
from orchestration.defs.ops.partitions import build_daily_partitions


def test_dev_on_an_example_uses_its_own_home_warehouse_and_days(tmp_path, monkeypatch) -> None:
    # apply_example writes os.environ: give the test its own copy.
    monkeypatch.setattr(
        os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("HEALTHSCORE_")}
    )
    os.environ["DAGSTER_HOME"] = str(tmp_path / "demo_home")
    os.environ["HEALTHSCORE_EXAMPLE_DATA_DIR"] = str(tmp_path / "ravenstack")
    argv, env = dev_command("127.0.0.1", 3999, example="ravenstack", say=lambda _: None)

    home = tmp_path / "ravenstack" / ".dagster_home"
    assert env["DAGSTER_HOME"] == str(home)
    assert env["HEALTHSCORE_DATA_DIR"] == str(tmp_path / "ravenstack")
    assert env["HEALTHSCORE_WAREHOUSE"] == str(tmp_path / "ravenstack" / "warehouse" / "healthscore.duckdb")
    assert Path(env["HEALTHSCORE_MAPPINGS_DIR"]).name == "ravenstack"
    # The new home gets the checkout's instance settings: no sign-up pop-up, one run at a time.
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["nux"] == {"enabled": False} and config["telemetry"] == {"enabled": False}
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 1
    assert argv[1:] == ["dev", "-h", "127.0.0.1", "-p", "3999", "-w", argv[-1]]
    assert "ignore:Function `dev_command` is superseded" in env["PYTHONWARNINGS"]
    # Partitions cover the example's data (2023-01-01 .. its reference date 2024-12-31), not up to today.
    keys = build_daily_partitions().get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == ("2023-01-01", "2024-12-31", 731)
