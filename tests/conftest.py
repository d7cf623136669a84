"""Shared test setup."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DAGSTER_HOME", "")  # tests use ephemeral instances
os.environ.pop("DAGSTER_HOME") if not os.environ["DAGSTER_HOME"] else None


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest():
    """dagster-dbt reads target/manifest.json at import: parse when the dbt project changed."""
    from orchestration.cli import ensure_manifest

    return ensure_manifest()
