"""Partitions start on the data's first day (recorded by scoring), not years before it."""

from __future__ import annotations

from orchestration.defs.ops.partitions import DEFAULT_START, partitions_start, start_marker


def test_partitions_start_from_the_marker_then_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HEALTHSCORE_WAREHOUSE", str(tmp_path / "warehouse" / "healthscore.duckdb"))
    monkeypatch.delenv("HEALTHSCORE_PARTITIONS_START", raising=False)
    assert partitions_start() == DEFAULT_START  # no run yet
    start_marker().parent.mkdir(parents=True)
    start_marker().write_text("2025-12-01\n")
    assert partitions_start() == "2025-12-01"
    start_marker().write_text("not a date")
    assert partitions_start() == DEFAULT_START
    monkeypatch.setenv("HEALTHSCORE_PARTITIONS_START", "2023-01-01")
    assert partitions_start() == "2023-01-01"
