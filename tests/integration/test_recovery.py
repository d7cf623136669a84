"""Recovery: a run killed with SIGKILL mid-way leaves the warehouse usable, and the rerun
publishes the same scores as an uninterrupted run on the same data."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.demo.generate import generate_demo_data
from tests.dates import DEMO_END_DATE, pinned_env

pytestmark = pytest.mark.slow

HEALTHSCORE = str(Path(sys.executable).parent / "healthscore")
# A first run also scores past days as history (90 by default): 30 days keep that path in every
# run (clean, killed, rerun) at a third of its cost.
RUN = [HEALTHSCORE, "run", "--first-run-history-days", "30"]


def _env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        **pinned_env(),
        "HEALTHSCORE_LANDING_DIR": str(root / "landing"),
        "HEALTHSCORE_WAREHOUSE": str(root / "warehouse" / "healthscore.duckdb"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }


def _published(root: Path) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse" / "healthscore.duckdb"), read_only=True) as con:
        return con.execute(
            """select account_id, objective, as_of_date, round(health_score, 6), grade, round(confidence, 6), top_reasons
            from scores.health_scores_current order by account_id, objective"""
        ).fetchall()


def test_sigkill_mid_run_then_rerun_publishes_the_same_scores(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    # Small: a run's cost here is mostly fixed (start-up, 10 gates, 140 dbt nodes), not data.
    generate_demo_data(clean / "landing", accounts=60, days=120, seed=11, end_date=DEMO_END_DATE)
    shutil.copytree(clean / "landing", killed / "landing")

    done = subprocess.run(RUN, env=_env(clean), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    # Kill the second one (and its dbt child) with SIGKILL once dbt is building models.
    log = open(killed / "run.log", "w")
    proc = subprocess.Popen(
        RUN, env=_env(killed), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    # The terminal shows one line per stage; the run's log file (next to the warehouse) has dbt's.
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if any(" START sql table model" in f.read_text() for f in (killed / "logs").glob("run-*.log")):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()
    assert proc.returncode == -signal.SIGKILL

    rerun = subprocess.run(RUN, env=_env(killed), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert _published(killed) == _published(clean)
    # The killed run had loaded the landing files already or not at all: never twice.
    with duckdb.connect(str(killed / "warehouse" / "healthscore.duckdb"), read_only=True) as con:
        batches = con.execute(
            "select count(*), count(distinct file_checksum) from raw._load_batches"
        ).fetchone()
    assert batches[0] == batches[1]
