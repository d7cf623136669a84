"""Every SQL block of the README and docs/, run against a demo snapshot as `make run` leaves it.

An analyst copies these queries first: each must run, and a query must return rows (the text
around each shows what it answers). A block fenced ```sql runs on a copy of the published
snapshot (what `healthscore sql` opens); ```sql warehouse on a copy of the live warehouse (the
maintenance statements of docs/operations.md); ```sql empty-ok marks a query whose text says it
may return nothing (e.g. "batches still blocking"). Relative paths in the SQL (read_parquet of
data/published/...) resolve from a folder laid out like a checkout after `make run`.

The pipeline runs once for the module, as `make run` does on an empty warehouse: demo data
(pinned seed and end date), then the first run with its 90-day history.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.resources import WarehouseResource
from orchestration.lib.demo.generate import generate_demo_data
from tests.dates import DEMO_END_DATE, pinned_env

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```sql([^\n]*)\n(.*?)^```", re.S | re.M)


FLAGS = {"warehouse", "empty-ok"}


def sql_blocks() -> list[tuple[str, set[str], str]]:
    """(id, flags, sql) for every ```sql block: id is file:line."""
    blocks = []
    for doc in DOCS:
        text = doc.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append(
                (f"{doc.relative_to(PROJECT_ROOT)}:{line}", set(match.group(1).split()), match.group(2))
            )
    return blocks


BLOCKS = sql_blocks()


def test_the_docs_have_sql_blocks_with_known_flags():
    assert len(BLOCKS) >= 8
    for where, flags, _ in BLOCKS:
        assert flags <= FLAGS, f"{where}: unknown flags {flags - FLAGS}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("docs-sql")
    data = root / "data"
    mp = pytest.MonkeyPatch()
    warehouse = data / "warehouse" / "healthscore.duckdb"
    mp.setenv("HEALTHSCORE_DATA_DIR", str(data))
    mp.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    mp.setenv("HEALTHSCORE_LANDING_DIR", str(data / "landing"))
    mp.setenv("HEALTHSCORE_PUBLISHED_DIR", str(data / "published"))
    for key, value in pinned_env().items():
        mp.setenv(key, value)
    generate_demo_data(data / "landing", accounts=150, days=365, seed=42, end_date=DEMO_END_DATE)
    from orchestration.definitions import build_definitions

    defs = build_definitions(
        WarehouseResource(warehouse_path=str(warehouse), landing_dir=str(data / "landing"))
    )
    result = defs.resolve_job_def("healthscore_all").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"scores__health_scores": {"config": {"history_days": 90}}}},
    )
    assert result.success
    yield root
    mp.undo()


@pytest.mark.parametrize(("where", "flags", "sql"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_docs_sql_block_runs_and_returns_rows(demo: Path, tmp_path: Path, monkeypatch, where, flags, sql):
    source = (
        demo / "data" / "warehouse" / "healthscore.duckdb"
        if "warehouse" in flags
        else demo / "data" / "published" / "healthscore_published.duckdb"
    )
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    monkeypatch.chdir(demo)  # relative read_parquet paths, as from a checkout
    with duckdb.connect(str(copy)) as con:
        statements = con.extract_statements(sql)
        assert statements, f"{where}: no statement"
        for statement in statements:
            cursor = con.execute(statement.query)
            if statement.type == duckdb.StatementType.SELECT and "empty-ok" not in flags:
                rows = cursor.fetchall()
                assert rows, f"{where}: the query returns no rows on the demo snapshot"


def test_backtest_no_write_writes_nothing(demo: Path, tmp_path: Path, capsys) -> None:
    """`healthscore backtest --no-write` prints its results and leaves no file and no table."""
    from orchestration.cli import main

    out = tmp_path / "reports"
    # one leakage-guard date: the guard rebuilds the mart from the data known then (the history
    # of re-exports and the custom feature models included) and must find it identical
    args = ["backtest", "--no-write", "--leakage-dates", "1", "--bootstrap", "20", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("ROC AUC") == 1 and "nothing written" in printed
    assert "leakage guard: passed" in printed
    assert not out.exists()
    with duckdb.connect(str(demo / "data" / "warehouse" / "healthscore.duckdb"), read_only=True) as con:
        schemas = {
            r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()
        }
    assert "backtest" not in schemas
