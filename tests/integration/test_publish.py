"""Publishing on demo data: the snapshot stays readable and consistent while a run writes, the
BI marts match the score tables, `healthscore dq` lists the planted flaws, the report is written.

One warehouse for the module: a first run publishes, a second run (in a thread) rewrites the live
warehouse and the snapshot while the test keeps opening the snapshot read-only.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.resources import WarehouseResource
from orchestration.lib.contracts.sources import CONTRACTS
from orchestration.lib.demo.generate import generate_demo_data
from orchestration.lib.publish.tables import SNAPSHOT_NAME
from tests.dates import DEMO_END_DATE, pinned_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("publish")
    mp = pytest.MonkeyPatch()
    warehouse = root / "warehouse" / "healthscore.duckdb"
    mp.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    mp.setenv("HEALTHSCORE_LANDING_DIR", str(root / "landing"))
    mp.setenv("HEALTHSCORE_PUBLISHED_DIR", str(root / "published"))
    mp.delenv("HEALTHSCORE_POSTGRES_DSN", raising=False)
    for name, value in pinned_env().items():
        mp.setenv(name, value)
    generate_demo_data(root / "landing", accounts=80, days=150, seed=11, end_date=DEMO_END_DATE)
    from orchestration.definitions import build_definitions

    defs = build_definitions(
        WarehouseResource(warehouse_path=str(warehouse), landing_dir=str(root / "landing"))
    )
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("healthscore_all")
    t0 = time.perf_counter()
    first = job.execute_in_process(instance=instance)
    assert first.success
    yield {
        "root": root,
        "warehouse": warehouse,
        "published": root / "published",
        "snapshot": root / "published" / SNAPSHOT_NAME,
        "job": job,
        "instance": instance,
        "first_run": first,
        "first_run_seconds": time.perf_counter() - t0,
    }
    mp.undo()


def _consistent_read(snapshot: Path) -> int:
    """Open the snapshot as a BI client would and check it is one complete state. Returns its version."""
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        runs = dict(con.execute("select score_version, score_rows from scores.score_runs").fetchall())
        rows = dict(
            con.execute("select score_version, count(*) from scores.health_scores group by all").fetchall()
        )
        assert rows == runs, "score rows per version disagree with score_runs"
        latest = max(runs)
        bi_runs = con.execute("select max(score_version), count(*) from bi.fct_score_runs").fetchone()
        assert bi_runs == (latest, len(runs))
        current = con.execute(
            "select min(score_version), max(score_version), count(*) from bi.health_scores_current"
        ).fetchone()
        assert current[1] == latest and current[2] > 0
        return latest
    finally:
        con.close()


def test_snapshot_is_consistent_while_a_run_writes(env):
    assert _consistent_read(env["snapshot"]) == 1
    outcome: dict = {}

    def second_run() -> None:
        outcome["result"] = env["job"].execute_in_process(instance=env["instance"], raise_on_error=False)

    thread = threading.Thread(target=second_run)
    thread.start()
    versions: list[int] = []
    while thread.is_alive():
        versions.append(_consistent_read(env["snapshot"]))
        time.sleep(0.05)
    thread.join()
    assert outcome["result"].success
    versions.append(_consistent_read(env["snapshot"]))
    # Many reads happened during the run, every one saw a complete version, and the new one arrived.
    assert len(versions) > 20
    assert set(versions) <= {1, 2} and versions[0] == 1 and versions[-1] == 2
    assert versions == sorted(versions)
    leftovers = [p.name for p in env["published"].rglob("*.tmp")]
    assert leftovers == []


def test_bi_marts_and_parquet_match_the_score_tables(env):
    snapshot, parquet = env["snapshot"], env["published"] / "parquet"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        current = con.execute("select count(*) from scores.health_scores_current").fetchone()[0]
        assert con.execute("select count(*) from bi.health_scores_current").fetchone()[0] == current
        # The restated history has one row per account, date and objective.
        dupes = con.execute(
            "select count(*) from (select account_id, as_of_date, objective from bi.fct_health_scores "
            "group by all having count(*) > 1)"
        ).fetchone()[0]
        assert dupes == 0
        contracts = con.execute(
            "select data_type from information_schema.columns "
            "where table_schema = 'bi' and table_name = 'fct_health_scores' and column_name = 'as_of_date'"
        ).fetchone()
        assert contracts == ("DATE",)
        n = con.execute(
            f"select count(*) from read_parquet('{parquet / 'bi.health_scores_current.parquet'}')"
        ).fetchone()[0]
        assert n == current
        assert con.execute("select count(*) from quality.quarantine_summary").fetchone()[0] > 0


def test_publish_asset_metadata(env):
    mats = env["first_run"].asset_materializations_for_node("published__snapshot")
    meta = mats[0].metadata
    assert "bi.health_scores_current" in meta["row_counts"].value
    assert sum(meta["grade_distribution"].value.values()) > 0
    assert "| account |" in meta["most_at_risk"].value


def test_dq_lists_the_planted_flaws_by_source(env, capsys):
    from orchestration.cli.main import main

    code = main(["dq", "--db", str(env["snapshot"])])
    out = capsys.readouterr().out
    assert code == 0  # the demo's flaws are warnings or quarantined rows: nothing blocks
    expected = [
        ("usage_events", "account_id: required value is missing"),  # null account_id
        ("support_tickets", "opened_at: cannot parse"),  # unparseable timestamps
        ("support_tickets", "priority: value P1"),  # priority 'P1'
        ("invoices", "amount: cannot parse - as double"),  # amount '-'
        ("usage_events", "usage_events.uniqueness.unique.event_id"),  # duplicate rows
        ("support_tickets", "support_tickets.uniqueness.unique.ticket_id"),  # duplicate tickets
        ("usage_events", "usage_events.referential_integrity.no_orphans.account_id"),  # orphan ids
    ]
    for source, text in expected:
        section = out.split(f"  {source}\n")
        assert len(section) > 1 and any(text in part for part in section[1:]), (source, text, out)
    one = main(["dq", "--db", str(env["snapshot"]), "--source", "invoices"])
    out = capsys.readouterr().out
    assert one == 0 and "usage_events" not in out and "amount" in out


def test_dq_exits_1_on_an_error_severity_failure(env, tmp_path, capsys):
    from orchestration.cli.main import main

    copy = tmp_path / "snap.duckdb"
    copy.write_bytes(env["snapshot"].read_bytes())
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "update quality.check_results set passed = false, unexpected_count = 5 "
            "where check_name = 'accounts.completeness.not_null.account_id' "
            "and run_id = (select max_by(run_id, checked_at) from quality.check_results)"
        )
    assert main(["dq", "--db", str(copy)]) == 1
    assert "[error] accounts.completeness.not_null.account_id" in capsys.readouterr().out


def test_report_and_data_docs_are_published_offline(env, capsys):
    from orchestration.cli.main import main

    report = (env["published"] / "report.html").read_text()
    with duckdb.connect(str(env["snapshot"]), read_only=True) as con:
        worst = con.execute(
            "select account_id from bi.health_scores_current where objective = 'retention_risk' "
            "and grade not in ('churned', 'insufficient_data') order by health_score nulls last limit 1"
        ).fetchone()[0]
    assert worst in report
    assert main(["dq", "--docs"]) == 0
    index = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert index == (env["published"] / "data_docs" / "index.html").resolve()
    pages = list(index.parent.glob("validations/*.html"))
    assert len(pages) == len(CONTRACTS)  # one page per source
    for page in pages:
        text = page.read_text()
        assert "<link" not in text or "//" not in text.split("<link", 1)[1].split(">", 1)[0]
        assert "<script src=" not in text
