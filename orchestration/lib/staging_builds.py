"""Staging tables whose inputs did not change since they were built are not rebuilt or retested.

A daily run lands the day's event files; the state exports (accounts, subscriptions, outcomes,
overrides, custom metrics) usually land nothing new. Their staging tables are a function of
their raw tables and their dbt code only, so rebuilding and retesting them gives the same table
and the same test results: about 60 dbt nodes of a daily run (docs/benchmarks.md).

Each staging table dbt builds is recorded in `raw._staging_builds` with a fingerprint of what it
was built from: its compiled code (the model's checksum and config, every macro of the project)
and, per raw table it reads, the load batches (count, newest load time) and the row count. A
later run (not `--full-refresh`) leaves a staging table out of the dbt selection, with the tests
on it alone, when its fingerprint is the recorded one. Anything else rebuilds it: a new batch of
its source, any other change of the raw table's row count, a change of its SQL, config, columns,
tests or any macro, of a dbt var or environment variable it reads (the reference date only
while it is before the newest load: it caps load dates), a model it reads that changed, a
failed earlier build (nothing recorded), a table that is missing. Tests that also read a rebuilt
model (relationships) still run.

The dbt unit tests are recorded the same way (`unit_test_fingerprints`): a unit test checks SQL
logic on fixed rows, so its result depends on code only (its definition, the tested model and
every model and source upstream of it, every macro, the dbt and adapter versions). One that
passed on exactly this code is not run again; dbt's own advice is to run unit tests in
development and CI, not on every production build. Any change of that code runs it again, as
does `--full-refresh`.

Only table models of the staging layer that read raw sources (directly or through other staging
models) are candidates; views cost nothing to rebuild, incremental models handle their own new
rows. On Spark every staging model is rebuilt as before (no row-level upsert of the record).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

TABLE = "raw._staging_builds"
DDL = "model varchar primary key, fingerprint varchar not null, built_at timestamp, run_id varchar"
ENGINES = ("duckdb", "postgres")


def _candidates(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node.get("resource_type") == "model"
        and len(node.get("fqn", [])) > 1
        and node["fqn"][1] == "staging"
        and node["config"].get("materialized") == "table"
    }


def _macros_hash(manifest: Mapping[str, Any]) -> str:
    return hashlib.sha256(
        "\n".join(
            f"{uid}:{m.get('macro_sql', '')}" for uid, m in sorted(manifest.get("macros", {}).items())
        ).encode()
    ).hexdigest()


def _versions(manifest: Mapping[str, Any]) -> str:
    from importlib.metadata import PackageNotFoundError, version

    adapter = (manifest.get("metadata") or {}).get("adapter_type") or ""
    try:
        adapter_version = version(f"dbt-{adapter}")
    except PackageNotFoundError:
        adapter_version = "?"
    return f"dbt {(manifest.get('metadata') or {}).get('dbt_version')} {adapter} {adapter_version}"


def unit_test_fingerprints(manifest: Mapping[str, Any], models: Iterable[str]) -> dict[str, str]:
    """unit test unique_id -> fingerprint of the code its result depends on, for the unit tests
    on the models among `models`: the test's definition (inputs, expected rows, overrides), the
    tested model and every model, source and seed upstream of it (code, config, columns: the
    fixtures take their column types from the inputs), every macro, the dbt and adapter versions."""
    selected = set(models)
    tests = {
        uid: test
        for uid, test in (manifest.get("unit_tests") or {}).items()
        if any(dep in selected for dep in test.get("depends_on", {}).get("nodes", []))
    }
    if not tests:
        return {}
    shared = _macros_hash(manifest) + "\n" + _versions(manifest)

    def upstream(uid: str) -> list[str]:
        seen: set[str] = set()
        todo = [uid]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            node = manifest["nodes"].get(current) or {}
            todo.extend(node.get("depends_on", {}).get("nodes", []))
        return sorted(seen)

    def describe(uid: str) -> str:
        node = manifest["nodes"].get(uid) or manifest.get("sources", {}).get(uid) or {}
        return json.dumps(
            [uid, (node.get("checksum") or {}).get("checksum"), node.get("config"), node.get("columns")],
            sort_keys=True,
            default=str,
        )

    result = {}
    for uid, test in sorted(tests.items()):
        definition = {
            key: test.get(key) for key in ("model", "given", "expect", "overrides", "config", "versions")
        }
        parts = [json.dumps(definition, sort_keys=True, default=str), shared]
        for dep in sorted(test["depends_on"]["nodes"]):
            parts.extend(describe(node) for node in upstream(dep))
        result[uid] = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return result


def candidates(manifest: Mapping[str, Any], unique_ids: Iterable[str]) -> list[str]:
    """The staging table models among `unique_ids`."""
    tables = _candidates(manifest)
    return [uid for uid in unique_ids if uid in tables]


def _macro_closure(manifest: Mapping[str, Any], macros: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    todo = list(macros)
    while todo:
        uid = todo.pop()
        if uid in seen or uid not in manifest.get("macros", {}):
            continue
        seen.add(uid)
        todo.extend(manifest["macros"][uid].get("depends_on", {}).get("macros", []))
    return sorted(seen)


def _used_variables(manifest: Mapping[str, Any], node: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(var or env_var, name) read by the model's SQL or any macro it calls."""
    texts = [node.get("raw_code") or ""] + [
        manifest["macros"][uid].get("macro_sql", "")
        for uid in _macro_closure(manifest, node["depends_on"].get("macros", []))
    ]
    return sorted(set(_VARIABLE.findall("\n".join(texts))))


_VARIABLE = re.compile(r"\b(var|env_var)\(\s*['\"]([^'\"]+)['\"]")


def fingerprints(
    engine: Any,
    manifest: Mapping[str, Any],
    unique_ids: Iterable[str],
    variables: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """model unique_id -> fingerprint of its code and inputs, for the staging table models among
    `unique_ids` (others are left out: always rebuilt). `variables`: the run's dbt vars; those
    the model or its macros read are part of its fingerprint, and so are the environment
    variables they read. `reference_date` caps load dates (macros/history.sql): it counts only
    while it is before the newest load of the model's sources (after it, it changes nothing)."""
    variables = variables or {}
    wanted = candidates(manifest, unique_ids)
    if not wanted:
        return {}
    macros = _macros_hash(manifest)
    batches = {
        source: (count, newest)
        for source, count, newest in engine.execute(
            "select source, count(*), max(loaded_at) from raw._load_batches group by source"
        ).fetchall()
    }
    # The tests on a model are part of what a build checks: a test added or changed reruns them.
    tests: dict[str, list] = {}
    for test_uid, test in manifest["nodes"].items():
        if test.get("resource_type") == "test":
            for parent in test["depends_on"]["nodes"]:
                tests.setdefault(parent, []).append(
                    [test_uid, test.get("raw_code"), test.get("test_metadata"), test.get("config")]
                )
    sources: dict[str, str] = {}

    def source_state(uid: str) -> str:
        if uid not in sources:
            node = manifest["sources"][uid]
            relation = f"{node['schema']}.{node.get('identifier') or node['name']}"
            (rows,) = engine.execute(f"select count(*) from {relation}").fetchone()
            sources[uid] = json.dumps(
                [relation, rows, batches.get(node["name"]), node.get("columns")], sort_keys=True, default=str
            )
        return sources[uid]

    def variables_read(node: Mapping[str, Any]) -> list:
        read = []
        for kind, name in _used_variables(manifest, node):
            if kind == "env_var":
                read.append([kind, name, os.environ.get(name)])
                continue
            value = variables.get(name)
            if name == "reference_date" and value is not None:
                newest = [
                    batches.get(manifest["sources"][dep]["name"], (0, None))[1]
                    for dep in node["depends_on"]["nodes"]
                    if dep.startswith("source.")
                ]
                newest_day = max((str(n)[:10] for n in newest if n is not None), default=None)
                if newest_day is not None and str(value) >= newest_day:
                    value = "not before the newest load"
            read.append([kind, name, value])
        return read

    done: dict[str, str | None] = {}

    def of(uid: str) -> str | None:
        if uid in done:
            return done[uid]
        done[uid] = None  # a cycle cannot occur in dbt; None also marks "not a candidate"
        node = manifest["nodes"].get(uid)
        if node is None or node.get("resource_type") != "model" or node["fqn"][1] != "staging":
            return None
        parts = [
            node["checksum"]["checksum"],
            json.dumps(
                [
                    node["config"],
                    node.get("columns"),
                    node.get("contract"),
                    tests.get(uid, []),
                    variables_read(node),
                ],
                sort_keys=True,
                default=str,
            ),
            macros,
        ]
        for dep in sorted(node["depends_on"]["nodes"]):
            if dep.startswith("source."):
                parts.append(source_state(dep))
            else:
                upstream = of(dep)
                if upstream is None:
                    return None
                parts.append(upstream)
        done[uid] = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        return done[uid]

    result = {}
    for uid in wanted:
        fingerprint = of(uid)
        if fingerprint is not None:
            result[uid] = fingerprint
    return result


def recorded(engine: Any) -> dict[str, str]:
    if not engine.table_exists("raw", "_staging_builds"):
        return {}
    return dict(engine.execute(f"select model, fingerprint from {TABLE}").fetchall())


def unchanged(engine: Any, manifest: Mapping[str, Any], current: Mapping[str, str]) -> list[str]:
    """The models of `current` (unique_id -> fingerprint) built from exactly these inputs, whose
    table is still there; and the unit tests of `current` that passed on exactly this code."""
    before = recorded(engine)
    result = []
    for uid, fingerprint in current.items():
        if uid.startswith("unit_test."):
            if before.get(uid) == fingerprint:
                result.append(uid)
            continue
        node = manifest["nodes"][uid]
        if before.get(uid) == fingerprint and engine.table_exists(
            node["schema"], node.get("alias") or node["name"]
        ):
            result.append(uid)
    return sorted(result)


def record(engine: Any, built: Mapping[str, str], run_id: str) -> None:
    """Record the fingerprints of the staging tables a successful dbt step built (and of the unit
    tests that passed in it)."""
    if not built:
        return
    from orchestration.lib.engines.dialect import create_table_sql

    engine.execute(create_table_sql(engine.dialect, TABLE, DDL))
    engine.begin()
    try:
        marks = ", ".join("?" for _ in built)
        engine.execute(f"delete from {TABLE} where model in ({marks})", list(built))
        engine.executemany(
            f"insert into {TABLE} values (?, ?, current_timestamp, ?)",
            [(uid, fingerprint, run_id) for uid, fingerprint in sorted(built.items())],
        )
        engine.commit()
    except BaseException:
        engine.rollback()
        raise


def forget(engine: Any) -> None:
    """A full refresh rebuilds everything; the records are written again after it."""
    if engine.table_exists("raw", "_staging_builds"):
        engine.execute(f"delete from {TABLE}")
