"""Shared test setup."""

from __future__ import annotations

import os
import tempfile

import pytest

# Tests never write to the repository's .dagster_home: anything that asks for the instance
# from the environment gets a throwaway one (one per xdist worker).
os.environ["DAGSTER_HOME"] = tempfile.mkdtemp(prefix="healthscore-test-dagster-")


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest():
    """dagster-dbt reads target/manifest.json at import: parse when the dbt project changed."""
    from orchestration.cli.common import ensure_manifest

    return ensure_manifest()
