"""Shared test setup."""

from __future__ import annotations

import os
import tempfile

import pytest

# Tests never write to the repository's .dagster_home: anything that asks for the instance
# from the environment gets a throwaway one (one per xdist worker).
os.environ["DAGSTER_HOME"] = tempfile.mkdtemp(prefix="healthscore-test-dagster-")
# Partitions start where the data starts (a marker next to the warehouse, written by scoring):
# tests pin the start instead, so a developer's own data/warehouse cannot move their partitions.
os.environ.setdefault("HEALTHSCORE_PARTITIONS_START", "2020-01-01")


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest():
    """dagster-dbt reads target/manifest.json at import: parse when the dbt project changed."""
    from orchestration.cli.common import ensure_manifest

    return ensure_manifest()


# The modules that take minutes, longest first (by CPU time measured 2026-11-30). `make test` runs
# pytest-xdist with `--dist loadfile --no-loadscope-reorder`: each module stays on one worker and
# the two workers take modules in collection order as they run dry. Starting the long ones first
# leaves the short ones to fill in at the end, so that both workers finish together instead of one
# long module running alone after the rest. Modules not listed keep their order, after these.
LONGEST_FIRST = (
    "test_engines_spark.py",
    "test_recovery.py",
    "test_pipeline.py",
    "test_engines.py",
    "test_ravenstack.py",
    "test_publish.py",
    "test_incremental.py",
    "test_sentiment_pipeline.py",
    "test_point_in_time.py",
    "test_scores_fingerprint.py",
    "test_bench.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept
