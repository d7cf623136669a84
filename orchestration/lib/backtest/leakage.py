"""Leakage guard: a feature for as_of_date D must be computable from records known by D.

The check is a real re-computation, not a convention: for a few sampled dates D, the
inputs are truncated to the records with `known_at < D + 1 day` (what the warehouse could
have known that evening), the features are rebuilt from the truncated inputs, and every
feature value for D is compared with the stored one. A feature that reads anything from
after D (a future outcome, an event that arrived later) changes when the future is cut
off, and the guard fails naming the column, the date and an example account.

Two ways to rebuild:
  sql_recompute   a feature SQL template over named inputs (tests, ad-hoc feature views)
  dbt_recompute   the real dbt project: staging relations copied, truncated, into a scratch
                  DuckDB file, then `dbt run` of the intermediate and mart models for D only

Limit (documented in docs/backtesting.md): truncation is per record (`known_at` of the row).
A column of a kept row that was filled in later (e.g. a ticket's closed_at) is still
visible; the intermediate models must, and do, compare such timestamps with D themselves.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.lib.dbt_cli import dbt_executable, project_args

Recompute = Callable[[duckdb.DuckDBPyConnection, dt.date], str]
_NUMERIC = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|U\w*INT|FLOAT|DOUBLE|REAL|DECIMAL)", re.I)


@dataclass
class LeakageResult:
    passed: bool
    dates: list[dt.date]
    columns: list[str]
    rows_compared: int
    problems: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        if self.passed:
            return (
                f"passed: {len(self.columns)} features identical on {self.rows_compared} rows rebuilt from "
                f"data known on {', '.join(map(str, self.dates))}"
            )
        worst = "; ".join(
            f"{p['column']} on {p['as_of_date']}: {p['rows']} rows differ (e.g. {p['example']})"
            for p in self.problems[:5]
        )
        return f"FAILED: features use data from after their as_of_date: {worst}"


class LeakageError(RuntimeError):
    pass


def check_point_in_time(
    con: duckdb.DuckDBPyConnection,
    features_table: str,
    recompute: Recompute,
    dates: Sequence[dt.date],
    columns: Sequence[str],
    *,
    key: Sequence[str] = ("account_id", "as_of_date"),
    rel_tol: float = 1e-6,
) -> LeakageResult:
    """Compare stored features for each date with features rebuilt from data known by then."""
    t0 = time.perf_counter()
    problems: list[dict] = []
    compared = 0
    on = " and ".join(f"s.{k} = r.{k}" for k in key)
    for d in dates:
        rebuilt = recompute(con, d)
        stored = f"(select * from {features_table} where as_of_date = date '{d.isoformat()}')"
        fresh = f"(select * from {rebuilt} where as_of_date = date '{d.isoformat()}')"
        counts = con.execute(
            f"""select count(*) filter (where r.{key[0]} is null), count(*) filter (where s.{key[0]} is null),
                       count(*) filter (where s.{key[0]} is not null and r.{key[0]} is not null)
                from {stored} as s full outer join {fresh} as r on {on}"""
        ).fetchone()
        compared += counts[2]
        if counts[0] or counts[1]:
            problems.append(
                {
                    "column": "(rows)",
                    "as_of_date": d,
                    "rows": counts[0] + counts[1],
                    "example": f"{counts[0]} stored rows cannot be rebuilt, {counts[1]} rebuilt rows "
                    "are not stored",
                }
            )
        types = dict(con.execute(f"select column_name, column_type from (describe {stored})").fetchall())
        for col in columns:
            if _NUMERIC.match(types.get(col, "")):
                changed = (
                    f"abs(cast(s.{col} as double) - cast(r.{col} as double)) > "
                    f"{rel_tol} * greatest(1.0, abs(cast(s.{col} as double)))"
                )
            else:  # categorical, boolean, date attributes: the value itself
                changed = f"cast(s.{col} as varchar) <> cast(r.{col} as varchar)"
            differs = f"(s.{col} is null) <> (r.{col} is null) or (s.{col} is not null and {changed})"
            row = con.execute(
                f"""select count(*), min(s.{key[0]}), any_value(cast(s.{col} as varchar)), any_value(cast(r.{col} as varchar))
                    from {stored} as s inner join {fresh} as r on {on} where {differs}"""
            ).fetchone()
            if row[0]:
                problems.append(
                    {
                        "column": col,
                        "as_of_date": d,
                        "rows": row[0],
                        "example": f"{row[1]}: stored {row[2]}, known-by-then {row[3]}",
                    }
                )
    return LeakageResult(
        passed=not problems,
        dates=list(dates),
        columns=list(columns),
        rows_compared=compared,
        problems=problems,
        seconds=time.perf_counter() - t0,
    )


def sql_recompute(inputs: dict[str, str], template: str, known_at: str = "known_at") -> Recompute:
    """Rebuild features from `template` (a select with {name} placeholders for the inputs),
    each input truncated to the rows with known_at before the end of D."""

    def rebuild(con: duckdb.DuckDBPyConnection, d: dt.date) -> str:
        names = {}
        for name, relation in inputs.items():
            con.execute(
                f"create or replace temp table _pit_{name} as select * from {relation} "
                f"where {known_at} < date '{d.isoformat()}' + interval 1 day"
            )
            names[name] = f"_pit_{name}"
        con.execute(f"create or replace temp table _pit_features as {template.format(**names)}")
        return "_pit_features"

    return rebuild


# Read by the models' macros when they run, not a dependency in the manifest: the declared
# custom attributes and metrics (macros/custom_features.sql). Declarations, not dated data.
_DECLARATIONS = ("raw", "_feature_declarations")


def _other_sources(project_dir: Path, staging_schema: str) -> list[tuple[str, str]]:
    """dbt sources read directly by intermediate or mart models (e.g. a Python asset's table, the
    custom attribute values of raw._attribute_values), and the feature declarations."""
    manifest = project_dir / "target" / "manifest.json"
    if not manifest.exists():
        return [_DECLARATIONS]
    data = json.loads(manifest.read_text())
    found = {_DECLARATIONS}
    for node in data.get("nodes", {}).values():
        if node.get("resource_type") != "model" or node.get("schema") == staging_schema:
            continue
        for dep in node.get("depends_on", {}).get("nodes", []):
            src = data.get("sources", {}).get(dep)
            if src:
                found.add((src["schema"], src.get("identifier") or src["name"]))
    return sorted(found)


def pick_dates(dates: Sequence[dt.date], n: int) -> list[dt.date]:
    """n dates spread over the sample (the last one always: the most data after it to leak)."""
    dates = sorted(dates)
    if n <= 0 or not dates:
        return []
    if n == 1:
        return [dates[len(dates) // 2]]
    step = (len(dates) - 1) / (n - 1)
    return sorted({dates[round(i * step)] for i in range(n)})


def dbt_recompute(
    warehouse_path: Path | str,
    *,
    staging_schema: str,
    features_model: str = "fct_account_features_daily",
    project_dir: Path | None = None,
    workdir: Path | None = None,
) -> Recompute:
    """Rebuild the dbt feature mart for one date from staging truncated to known_at <= D.

    The staging views of the live warehouse are copied as truncated tables into a scratch
    DuckDB file (same schema and names), and dbt runs only the intermediate and mart models
    there, for as_of_start = as_of_end = D. The live warehouse is read, never written.
    """
    from orchestration.lib.settings import PROJECT_ROOT

    project_dir = project_dir or PROJECT_ROOT / "dbt_project"
    base = Path(workdir or tempfile.mkdtemp(prefix="healthscore_pit_"))
    base.mkdir(parents=True, exist_ok=True)
    counter = {"n": 0}

    def rebuild(con: duckdb.DuckDBPyConnection, d: dt.date) -> str:
        counter["n"] += 1
        alias = f"pit_{counter['n']}"
        scratch = base / f"{alias}.duckdb"
        scratch.unlink(missing_ok=True)
        views = [
            r[0]
            for r in con.execute(
                # this warehouse's only: the scratch copies of earlier dates are attached too
                "select table_name from information_schema.tables where table_schema = ? "
                "and table_catalog = current_database()",
                [staging_schema],
            ).fetchall()
        ]
        if not views:
            raise LeakageError(f"no staging relations in schema {staging_schema!r}")
        con.execute(f"attach '{scratch}' as {alias}")
        try:
            con.execute(f"create schema {alias}.{staging_schema}")
            for v in views:
                cols = {r[0] for r in con.execute(f"select * from {staging_schema}.{v} limit 0").description}
                # the history of re-exports (the *_versions models): the versions valid by D (an
                # account's first export also stands for the dates before it, macros/history.sql)
                known = "known_at" if "known_at" in cols else "valid_from"
                con.execute(
                    f"create table {alias}.{staging_schema}.{v} as select * from {staging_schema}.{v} "
                    f"where {known} < date '{d.isoformat()}' + interval 1 day"
                )
            for schema, table in _other_sources(project_dir, staging_schema):
                if con.execute(
                    "select count(*) from information_schema.tables where table_schema = ? "
                    "and table_name = ? and table_catalog = current_database()",
                    [schema, table],
                ).fetchone()[0]:
                    cols = {r[0] for r in con.execute(f"select * from {schema}.{table} limit 0").description}
                    cut = (
                        f" where known_at < date '{d.isoformat()}' + interval 1 day"
                        if "known_at" in cols
                        else ""
                    )
                    con.execute(f"create schema if not exists {alias}.{schema}")
                    con.execute(
                        f"create table {alias}.{schema}.{table} as select * from {schema}.{table}{cut}"
                    )
        finally:
            con.execute(f"detach {alias}")
        env = {**os.environ, "HEALTHSCORE_WAREHOUSE": str(scratch), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        cmd = [
            dbt_executable(),
            "run",
            "--quiet",
            *project_args(project_dir, base / "target", base / "logs"),
            "--select",
            "path:models/intermediate",
            "path:models/features",
            "path:models/marts",
            "--vars",
            json.dumps({"as_of_start": d.isoformat(), "as_of_end": d.isoformat()}),
        ]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise LeakageError(
                f"dbt could not rebuild the features for {d}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        con.execute(f"attach '{scratch}' as {alias} (read_only)")
        schema = con.execute(
            "select table_schema from information_schema.tables where table_catalog = ? and table_name = ?",
            [alias, features_model],
        ).fetchone()
        if schema is None:
            raise LeakageError(f"dbt did not build {features_model} in {scratch}")
        return f"{alias}.{schema[0]}.{features_model}"

    rebuild.cleanup = lambda: shutil.rmtree(base, ignore_errors=True)  # type: ignore[attr-defined]
    return rebuild


def dbt_leakage_check(
    warehouse_path: Path | str, *, n_dates: int = 1, features_model: str = "fct_account_features_daily"
) -> Callable[[duckdb.DuckDBPyConnection, list[dt.date], list[str]], LeakageResult]:
    """The guard run_backtest calls: rebuild the mart for `n_dates` sampled dates with dbt."""

    def check(con: duckdb.DuckDBPyConnection, dates: list[dt.date], columns: list[str]) -> LeakageResult:
        from orchestration.lib.backtest.history import find_relation

        features = find_relation(con, features_model)
        staging = find_relation(con, "stg_crm__accounts").split(".")[0]
        rebuild = dbt_recompute(warehouse_path, staging_schema=staging, features_model=features_model)
        attached: list[str] = []

        def tracked(c: duckdb.DuckDBPyConnection, d: dt.date) -> str:
            rel = rebuild(c, d)
            attached.append(rel.split(".")[0])
            return rel

        try:
            result = check_point_in_time(
                con, features, tracked, pick_dates(dates, n_dates), [*columns, "is_churned"]
            )
        finally:
            for alias in attached:
                con.execute(f"detach {alias}")
            rebuild.cleanup()  # type: ignore[attr-defined]
        if not result.passed:
            raise LeakageError(str(result))
        return result

    return check
