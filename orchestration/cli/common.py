"""Helpers every command shares: progress lines, the Dagster home, the dbt manifest, which DuckDB
file to read."""

from __future__ import annotations

import os
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from orchestration.lib.dbt_cli import dbt_executable, project_args
from orchestration.lib.settings import PROJECT_ROOT, Settings

_Options = TypeVar("_Options")


def _say(msg: str) -> None:
    print(msg, flush=True)


def options_from_args(cls: type[_Options], args: Any, **given: Any) -> _Options:
    """A command's typed options (a dataclass) from the parsed arguments of the same names; `given`
    sets the fields whose argument differs in name or type."""
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if f.name not in given}, **given)


def _dagster_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        # A new home (an example's, a moved DAGSTER_HOME) gets the checkout's instance settings: no
        # telemetry, no sign-up pop-up, one run at a time (DuckDB's single writer), freshness on.
        config.write_text((PROJECT_ROOT / ".dagster_home" / "dagster.yaml").read_text())
    return home


def ensure_manifest(force: bool = False) -> Path:
    """dagster-dbt needs target/manifest.json at import time: parse when missing or out of date."""
    project = PROJECT_ROOT / "dbt_project"
    manifest = project / "target" / "manifest.json"
    sources = [
        p for p in project.rglob("*") if p.suffix in {".sql", ".yml", ".yaml"} and "target" not in p.parts
    ]
    if (
        not force
        and manifest.exists()
        and all(p.stat().st_mtime <= manifest.stat().st_mtime for p in sources)
    ):
        return manifest
    _say("Parsing the dbt project (target/manifest.json) ...")
    env = {**os.environ, "HEALTHSCORE_WAREHOUSE": str(Settings.from_env().warehouse_path)}
    subprocess.run(
        [dbt_executable(), "parse", "--quiet", *project_args(project)],
        check=True,
        env=env,
    )
    return manifest


def _landing_is_empty(landing: Path) -> bool:
    return not any(p.is_file() for p in landing.rglob("*")) if landing.exists() else True


def _readable_warehouse(settings: Settings) -> Path:
    """The DuckDB file to summarise: the warehouse itself, or on PostgreSQL / Spark the snapshot
    that every run publishes from the engine (docs/scale-out.md)."""
    from orchestration.lib.engines.factory import engine_name

    if engine_name() == "duckdb":
        return settings.warehouse_path
    from orchestration.lib.publish.tables import SNAPSHOT_NAME, published_dir

    return published_dir(settings) / SNAPSHOT_NAME


def _has_published_scores(settings: Settings) -> bool:
    path = _readable_warehouse(settings)
    if not path.exists():
        return False
    from orchestration.lib.engines.warehouse import connect

    with connect(path, read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'scores' and table_name = 'score_runs'"
        ).fetchone()[0]
        return bool(exists) and con.execute("select count(*) from scores.score_runs").fetchone()[0] > 0


def _published_or_warehouse(settings: Settings) -> Path:
    """The published snapshot when there is one (never blocks on a running pipeline), else the warehouse."""
    from orchestration.lib.publish.tables import SNAPSHOT_NAME, published_dir

    snapshot = published_dir(settings) / SNAPSHOT_NAME
    return snapshot if snapshot.exists() else settings.warehouse_path
