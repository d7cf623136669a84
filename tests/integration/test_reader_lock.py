"""A reader holding the live warehouse file (a BI tool, a notebook) does not fail the pipeline:
every connection waits and retries, then fails naming the holder and the fix.

The reader is a real process holding a read-only DuckDB connection to the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.engines.warehouse import LOCK_WAIT_ENV, WarehouseLockedError, connect

READER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
    """
)


def _reader(path: Path, seconds: float) -> subprocess.Popen:
    """A process that holds `path` open read-only for `seconds`, started once it holds it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", READER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "holding"
    return proc


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select 1 as x")
    return path


def test_a_write_waits_for_a_reader_then_succeeds(warehouse, monkeypatch, capsys):
    monkeypatch.setenv(LOCK_WAIT_ENV, "60")
    reader = _reader(warehouse, 2)
    try:
        with pytest.raises(duckdb.IOException):  # the file really is held now
            duckdb.connect(str(warehouse)).close()
        with connect(warehouse) as con:
            con.execute("insert into t values (2)")
        assert reader.poll() == 0  # we got in only after the reader let go
        assert f"is locked by PID {reader.pid}" in capsys.readouterr().err  # the user sees why it waits
    finally:
        reader.kill()
        reader.wait()
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select count(*) from t").fetchone()[0] == 2


def test_a_reader_that_never_lets_go_fails_naming_it_and_the_fix(warehouse, monkeypatch):
    monkeypatch.setenv(LOCK_WAIT_ENV, "1")
    reader = _reader(warehouse, 600)
    try:
        with pytest.raises(WarehouseLockedError) as err, connect(warehouse):
            pass
    finally:
        reader.kill()
        reader.wait()
    message = str(err.value)
    assert f"PID {reader.pid}" in message and "time.sleep" in message  # the holder's command line
    assert "published snapshot" in message and "healthscore_published.duckdb" in message
    assert LOCK_WAIT_ENV in message


def test_quality_gates_wait_for_a_reader(warehouse, monkeypatch, tmp_path):
    from orchestration.lib.ingest.loader import load_source
    from orchestration.lib.quality.validate import validate_sources

    landing = tmp_path / "landing"
    (landing / "social_mentions").mkdir(parents=True)
    (landing / "social_mentions" / "m.csv").write_text(
        "mention_id,account_id,channel,mention_text,mentioned_at\nM1,A1,g2,hi,2026-01-01 10:00:00\n"
    )
    with connect(warehouse) as con:
        load_source(con, "social_mentions", landing)
    validate_sources(warehouse, ["social_mentions"], persist=False)  # GX imported: it connects at once below
    monkeypatch.setenv(LOCK_WAIT_ENV, "60")
    reader = _reader(warehouse, 3)
    try:
        result = validate_sources(warehouse, ["social_mentions"], run_id="locked")["social_mentions"]
        assert reader.poll() == 0  # GX got its connection only after the reader let go
    finally:
        reader.kill()
        reader.wait()
    assert result.ran_gx and all(
        not r.observed_value or "lock" not in str(r.observed_value) for r in result.results
    )
    assert not [r for r in result.results if str(r.observed_value).startswith("error:")]


def test_after_one_full_wait_the_next_connections_fail_at_once(warehouse, monkeypatch):
    """Ten ingest steps must not wait ten times for a reader that never lets go."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "2")
    reader = _reader(warehouse, 600)
    attempts = []
    try:
        for _ in range(2):
            with pytest.raises(WarehouseLockedError) as err, connect(warehouse):
                pass
            attempts.append(int(str(err.value).split(" attempts)")[0].rsplit("(", 1)[1]))
    finally:
        reader.kill()
        reader.wait()
    assert attempts[0] > 1 and attempts[1] == 1
