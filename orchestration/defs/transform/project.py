"""The dbt project, in its own module so `dagster-dbt project prepare-and-package` can import it."""

from __future__ import annotations

from dagster_dbt import DbtProject

from orchestration.lib.settings import PROJECT_ROOT

dbt_project = DbtProject(
    project_dir=PROJECT_ROOT / "dbt_project",
    profiles_dir=PROJECT_ROOT / "dbt_project",
)
