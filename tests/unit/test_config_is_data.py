"""Configuration is data, never SQL to run: names from a scorecard or mapping are identifiers,
a mapping `query` is exactly one SELECT and an `expr` one expression, in every command; nothing
injected runs (the live warehouse keeps its tables)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.lib.ingest.files import IngestError
from orchestration.lib.ingest.loader import load_source
from orchestration.lib.ingest.mapping import MappingError, load_mapping
from orchestration.lib.ingest.sql_checks import check_expression, check_select
from orchestration.lib.scoring.scorecard import ScorecardError, parse_scorecard
from orchestration.lib.settings import PROJECT_ROOT

DROP = "drop table scores.score_runs"
DEFAULT = (PROJECT_ROOT / "scorecards" / "default.yml").read_text()


@pytest.fixture()
def warehouse(tmp_path: Path, monkeypatch) -> Path:
    """A live warehouse with the table the injections aim at."""
    path = tmp_path / "data" / "warehouse" / "healthscore.duckdb"
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema scores; create table scores.score_runs as select 1 as score_version")
    monkeypatch.setenv("HEALTHSCORE_WAREHOUSE", str(path))
    return path


def _still_there(path: Path) -> bool:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select count(*) from scores.score_runs").fetchone()[0] == 1


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("name: activity_recency", f"name: x; {DROP}; --", "factor 'x; drop table scores.score_runs; --'"),
        ("feature: days_since_last_activity", f'feature: "1 as x; {DROP}; --"', "feature"),
        ("  product_usage: Product usage", '  "usage); drop": Product usage', "group"),
    ],
)
def test_a_name_that_is_not_an_identifier_is_rejected(old, new, named):
    assert old in DEFAULT
    with pytest.raises(ScorecardError) as err:
        parse_scorecard(DEFAULT.replace(old, new, 1), source="evil.yml")
    assert "evil.yml" in str(err.value) and named in str(err.value) and "not a valid name" in str(err.value)


def test_scorecard_diff_rejects_an_injected_feature_and_drops_nothing(warehouse, tmp_path, capsys):
    from orchestration.cli.main import main

    evil = tmp_path / "evil.yml"
    evil.write_text(DEFAULT.replace("feature: days_since_last_activity", f'feature: "1; {DROP}; --"', 1))
    code = main(["scorecard", "diff", str(PROJECT_ROOT / "scorecards" / "default.yml"), str(evil)])
    err = capsys.readouterr().err
    assert code == 2 and "evil.yml is invalid" in err and "not a valid name" in err and "Traceback" not in err
    assert _still_there(warehouse)


@pytest.mark.parametrize(
    "query",
    [
        f"select src.* from src; {DROP}",
        f"{DROP}",
        "select src.* from src; select 1",
        "insert into scores.score_runs select 1",
    ],
)
def test_a_mapping_query_must_be_one_select(query):
    with pytest.raises(ValueError):
        check_select(query)


@pytest.mark.parametrize(
    "expr",
    [
        "a; drop table x",
        "1); drop table x; select (1",
        "a, b",
        "a from t",
        "a where 1 = 1",
        "*",
        "a as b",
        "",
    ],
)
def test_an_expr_must_be_one_expression(expr):
    with pytest.raises(ValueError):
        check_expression(expr)


@pytest.mark.parametrize("expr", ["lower(trim(Status))", "case when x then 1 end -- why", "(select 1)"])
def test_ordinary_expressions_pass(expr):
    check_expression(expr)


def _mapping(tmp_path: Path, body: str) -> Path:
    (tmp_path / "export").mkdir(exist_ok=True)
    (tmp_path / "export" / "notes.csv").write_text("id,acc,who,txt,at\nN1,A1,Jo,fine,2026-01-01 10:00:00\n")
    (tmp_path / "export" / "people.csv").write_text("who,name\nJo,Jo Smith\n")
    mappings = tmp_path / "mappings"
    mappings.mkdir(exist_ok=True)
    (mappings / "account_notes.yml").write_text(body)
    return mappings


def test_a_mapping_query_with_a_second_statement_is_rejected_and_nothing_runs(warehouse, tmp_path):
    mappings = _mapping(
        tmp_path,
        f"""source: account_notes
inputs: {{notes: ../export/notes.csv, people: ../export/people.csv}}
query: "select notes.*, people.name from notes left join people using (who); {DROP}; select 1"
columns: {{note_id: id, account_id: acc, author: name, note_text: txt, noted_at: at}}
""",
    )
    with pytest.raises(MappingError) as err:
        load_mapping(mappings / "account_notes.yml")
    assert "account_notes.yml" in str(err.value) and "query must be exactly one SELECT statement" in str(
        err.value
    )
    with duckdb.connect(str(warehouse)) as con, pytest.raises(IngestError, match="query must be exactly one"):
        load_source(con, "account_notes", tmp_path / "landing", mappings_dir=mappings)
    assert _still_there(warehouse)


def test_an_expr_with_a_semicolon_is_rejected_naming_the_key(warehouse, tmp_path):
    mappings = _mapping(
        tmp_path,
        f"""source: account_notes
files: ../export/notes.csv
columns: {{note_id: "id; {DROP}", account_id: acc, author: who, note_text: txt, noted_at: at}}
""",
    )
    with duckdb.connect(str(warehouse)) as con, pytest.raises(IngestError) as err:
        load_source(con, "account_notes", tmp_path / "landing", mappings_dir=mappings)
    assert "account_notes.yml" in str(err.value) and "columns.note_id: expr must be one expression" in str(
        err.value
    )
    assert "cannot be read as csv" not in str(err.value)
    assert _still_there(warehouse)
