"""`healthscore sql`: SQL on the published snapshot for analysts without a DuckDB CLI."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pytest

from orchestration.cli import main
from orchestration.lib.reporting.sql_shell import repl


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sql") / "snap.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema bi")
        con.execute(
            "create table bi.health_scores_current as select * from (values "
            "('ACC-1', 'red', 41.5, 'Usage fell 50% against the previous 30 days; No product activity for 31 days'), "
            "('ACC-2', 'green', 88.0, null)) t(account_id, grade, health_score, top_reasons)"
        )
    return path


def test_a_query_prints_a_table_with_its_row_count(snapshot: Path, capsys) -> None:
    sql = "select account_id, grade, health_score from bi.health_scores_current order by account_id"
    assert main(["sql", "--db", str(snapshot), sql]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["account_id", "grade", "health_score"]
    assert out[2].split() == ["ACC-1", "red", "41.5"] and out[-1] == "(2 rows)"


def test_csv_prints_every_value_whole(snapshot: Path, capsys) -> None:
    assert (
        main(["sql", "--db", str(snapshot), "--csv", "select top_reasons from bi.health_scores_current"]) == 0
    )
    out = capsys.readouterr().out
    assert "Usage fell 50% against the previous 30 days; No product activity for 31 days" in out


def test_the_snapshot_is_opened_read_only_and_errors_exit_1(snapshot: Path, capsys) -> None:
    assert main(["sql", "--db", str(snapshot), "delete from bi.health_scores_current"]) == 1
    assert "read-only" in capsys.readouterr().err
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("select count(*) from bi.health_scores_current").fetchone()[0] == 2


def test_the_prompt_runs_statements_ending_with_semicolons(snapshot: Path) -> None:
    lines = iter(
        [".tables", "select count(*) as n", "from bi.health_scores_current;", "select nosuch;", ".quit"]
    )
    out = io.StringIO()
    with duckdb.connect(str(snapshot), read_only=True) as con:
        repl(con, snapshot, out, read=lambda _prompt: next(lines))
    text = out.getvalue()
    assert "bi.health_scores_current" in text  # .tables
    assert "\n n\n" in text.replace("-", "") or " 2\n(1 row)" in text
    assert "Error:" in text  # an error does not end the prompt
