"""Spark gives the same answers as DuckDB (docs/scale-out.md): the comparison of
test_engines.py, on the same landing zone, in a module of its own.

Why a module of its own: the Spark run is the longest test of the suite, and pytest-xdist
(`--dist loadfile`) keeps a module on one worker; alone here, and handed out first
(tests/conftest.py), it runs beside the rest of the suite instead of after the DuckDB and
PostgreSQL runs. Its DuckDB reference leaves out the dbt tests as the Spark run does
(test_engines.py runs them on DuckDB and PostgreSQL); the compared tables do not depend on them.
"""

from __future__ import annotations

import os
import shutil

import pytest

from orchestration.lib.demo.generate import generate_demo_data
from orchestration.lib.engines.spark import release_spark
from tests.dates import DEMO_END_DATE
from tests.integration.test_engines import ACCOUNTS, DAYS, assert_same, run_pipeline


def _spark_unavailable() -> str | None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime for the local Spark session (apt-get install openjdk-17-jre-headless)"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_spark_unavailable() is not None, reason=str(_spark_unavailable())),
]


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("engines-spark")
    generate_demo_data(root / "landing", accounts=ACCOUNTS, days=DAYS, seed=11, end_date=DEMO_END_DATE)
    return root


def test_spark_gives_the_same_answers(landing):
    mp = pytest.MonkeyPatch()
    try:
        reference, _ = run_pipeline("duckdb", landing, mp, model_tests=False)
    finally:
        mp.undo()
    mp = pytest.MonkeyPatch()
    mp.setenv("HEALTHSCORE_SPARK_DIR", str(landing / "spark"))
    try:
        tables, seconds = run_pipeline("spark", landing, mp, model_tests=False)
    finally:
        release_spark()
        mp.undo()
    print(f"\nspark pipeline: {seconds:.1f} s")
    assert_same(reference, tables, "spark")
