"""Staging tables whose code and raw batches did not change are left out of a run, with the
tests on them alone (orchestration/lib/staging_builds.py, orchestration/defs/transform/inprocess.py)."""

from __future__ import annotations

import copy
import logging
from types import SimpleNamespace

import duckdb
import pytest

from orchestration.defs.transform.inprocess import _without
from orchestration.lib import staging_builds
from orchestration.lib.engines.factory import as_engine


def _model(name: str, deps: list[str], materialized: str = "table", layer: str = "staging") -> dict:
    return {
        "resource_type": "model",
        "name": name,
        "schema": layer,
        "fqn": ["healthscore", layer, name],
        "config": {"materialized": materialized},
        "checksum": {"checksum": f"sql-of-{name}"},
        "depends_on": {"nodes": deps, "macros": []},
        "columns": {},
    }


def _test(name: str, parents: list[str]) -> dict:
    return {
        "resource_type": "test",
        "name": name,
        "fqn": ["healthscore", "staging", name],
        "config": {"severity": "ERROR"},
        "raw_code": "{{ test_not_null(**_dbt_generic_test_kwargs) }}",
        "test_metadata": {"name": "not_null"},
        "depends_on": {"nodes": parents, "macros": []},
    }


MANIFEST = {
    "sources": {
        "source.healthscore.raw.accounts": {"name": "accounts", "schema": "raw", "identifier": "accounts"},
        "source.healthscore.raw.usage_events": {
            "name": "usage_events",
            "schema": "raw",
            "identifier": "usage_events",
        },
    },
    "macros": {
        "macro.healthscore.scd2_versions": {
            "macro_sql": "{% macro scd2_versions() %}{{ var('reference_date', none) }}{% endmacro %}"
        }
    },
    "nodes": {
        "model.healthscore.stg_account_versions": {
            **_model("stg_account_versions", ["source.healthscore.raw.accounts"]),
            "depends_on": {
                "nodes": ["source.healthscore.raw.accounts"],
                "macros": ["macro.healthscore.scd2_versions"],
            },
        },
        "model.healthscore.stg_accounts": _model("stg_accounts", ["model.healthscore.stg_account_versions"]),
        "model.healthscore.stg_usage": _model(
            "stg_usage", ["source.healthscore.raw.usage_events"], materialized="incremental"
        ),
        "model.healthscore.int_days": _model(
            "int_days", ["model.healthscore.stg_accounts"], layer="intermediate"
        ),
        "test.healthscore.not_null_stg_accounts_id": _test(
            "not_null_stg_accounts_id", ["model.healthscore.stg_accounts"]
        ),
        "test.healthscore.relationships_usage_accounts": _test(
            "relationships_usage_accounts", ["model.healthscore.stg_usage", "model.healthscore.stg_accounts"]
        ),
    },
}
MODELS = [uid for uid, node in MANIFEST["nodes"].items() if node["resource_type"] == "model"]


@pytest.fixture
def engine():
    con = duckdb.connect()
    con.execute("create schema raw; create schema staging")
    con.execute("create table raw.accounts (id int); insert into raw.accounts values (1), (2)")
    con.execute("create table raw.usage_events (id int)")
    con.execute("create table raw._load_batches (batch_id varchar, source varchar, loaded_at timestamp)")
    con.execute("insert into raw._load_batches values ('b1', 'accounts', timestamp '2026-11-01 08:00:00')")
    con.execute(
        "create table staging.stg_account_versions (id int); create table staging.stg_accounts (id int)"
    )
    yield as_engine(con)
    con.close()


def _unchanged(engine, manifest=MANIFEST) -> list[str]:
    return staging_builds.unchanged(engine, manifest, staging_builds.fingerprints(engine, manifest, MODELS))


def test_only_staging_tables_are_candidates(engine) -> None:
    assert sorted(staging_builds.fingerprints(engine, MANIFEST, MODELS)) == [
        "model.healthscore.stg_account_versions",
        "model.healthscore.stg_accounts",
    ]


def test_nothing_recorded_rebuilds_everything_then_the_same_inputs_are_left_out(engine) -> None:
    assert _unchanged(engine) == []
    staging_builds.record(engine, staging_builds.fingerprints(engine, MANIFEST, MODELS), "run-1")
    assert _unchanged(engine) == ["model.healthscore.stg_account_versions", "model.healthscore.stg_accounts"]


@pytest.mark.parametrize(
    "change",
    [
        "insert into raw._load_batches values ('b2', 'accounts', timestamp '2026-11-02 08:00:00')",
        "insert into raw.accounts values (3)",  # rows that came without a batch record
        "drop table staging.stg_accounts",  # stg_accounts only: its table is gone
    ],
)
def test_new_raw_data_or_a_missing_table_rebuilds(engine, change: str) -> None:
    staging_builds.record(engine, staging_builds.fingerprints(engine, MANIFEST, MODELS), "run-1")
    engine.execute(change)
    left_out = _unchanged(engine)
    assert "model.healthscore.stg_accounts" not in left_out
    if "drop table" in change:
        assert left_out == ["model.healthscore.stg_account_versions"]
    else:  # the upstream staging model changed too
        assert left_out == []


def _edited(edit) -> dict:
    manifest = copy.deepcopy(MANIFEST)
    edit(manifest)
    return manifest


@pytest.mark.parametrize(
    "edit, rebuilt",
    [
        (  # the SQL of the upstream model: both
            lambda m: m["nodes"]["model.healthscore.stg_account_versions"]["checksum"].update(checksum="new"),
            2,
        ),
        (  # a macro of the project: every model
            lambda m: m["macros"]["macro.healthscore.scd2_versions"].update(
                macro_sql="{% macro x() %}{% endmacro %}"
            ),
            2,
        ),
        (  # a test on the model changes (severity): the model's tests run again
            lambda m: m["nodes"]["test.healthscore.not_null_stg_accounts_id"]["config"].update(
                severity="WARN"
            ),
            1,
        ),
        (  # a new test on the model
            lambda m: m["nodes"].update(
                {
                    "test.healthscore.unique_stg_accounts_id": _test(
                        "unique_stg_accounts_id", ["model.healthscore.stg_accounts"]
                    )
                }
            ),
            1,
        ),
    ],
)
def test_changed_code_or_tests_rebuild(engine, edit, rebuilt: int) -> None:
    staging_builds.record(engine, staging_builds.fingerprints(engine, MANIFEST, MODELS), "run-1")
    assert len(_unchanged(engine, _edited(edit))) == 2 - rebuilt


def test_forget_rebuilds_everything(engine) -> None:
    staging_builds.record(engine, staging_builds.fingerprints(engine, MANIFEST, MODELS), "run-1")
    staging_builds.forget(engine)
    assert _unchanged(engine) == []


def test_selection_without_the_unchanged_models_and_their_own_tests() -> None:
    fqn = {uid: ".".join(node["fqn"]) for uid, node in MANIFEST["nodes"].items()}
    names = [fqn[uid] for uid in MANIFEST["nodes"]]
    selection = ["--select", " ".join(names)]
    logged: list[str] = []
    context = SimpleNamespace(log=SimpleNamespace(info=logged.append))
    dropped = {"model.healthscore.stg_account_versions", "model.healthscore.stg_accounts"}
    new, models, left_out = _without(
        selection, MANIFEST, lambda models, _manifest: sorted(dropped & set(models)), context
    )
    kept = new[1].split()
    # the model's own test goes with it; the relationships test from a rebuilt model stays
    assert fqn["test.healthscore.not_null_stg_accounts_id"] not in kept
    assert fqn["test.healthscore.relationships_usage_accounts"] in kept
    assert fqn["model.healthscore.int_days"] in kept and fqn["model.healthscore.stg_usage"] in kept
    assert left_out == sorted(dropped)
    assert models == ["model.healthscore.stg_usage", "model.healthscore.int_days"]
    assert "2 staging table(s) unchanged" in logged[0]
    # a selection that is not a list of the manifest's resources is kept whole
    assert _without(["--select", "fqn:*"], MANIFEST, lambda models, _manifest: models, context) == (
        ["--select", "fqn:*"],
        [],
        [],
    )


@pytest.mark.parametrize("kinds", [("model.",), ("model.", "test.")])  # tests listed or added by dbt
def test_the_ungated_check_warning_is_dropped_for_left_out_tests_only(caplog, monkeypatch, kinds) -> None:
    from orchestration.defs.transform import inprocess

    monkeypatch.setattr(inprocess, "_LEFT_OUT_CHECKS", set())
    fqn = {uid: ".".join(node["fqn"]) for uid, node in MANIFEST["nodes"].items() if uid.startswith(kinds)}
    context = SimpleNamespace(log=SimpleNamespace(info=lambda _m: None))
    _without(
        ["--select", " ".join(fqn.values())],
        MANIFEST,
        lambda models, _manifest: ["model.healthscore.stg_accounts"],
        context,
    )
    active = logging.getLogger("dagster._core.execution.plan.active")
    warning = (
        "Blocking asset check 'staging/accounts:{}' emitted no result in step 'dbt_2'; downstream "
        "step 'dbt_3' will proceed without gating on it."
    )
    with caplog.at_level(logging.WARNING, logger=active.name):
        active.warning(warning.format("not_null_stg_accounts_id"))  # left out with its table
        active.warning(warning.format("not_null_stg_usage_account_id"))  # a check that did not report
    assert [r.getMessage() for r in caplog.records] == [warning.format("not_null_stg_usage_account_id")]


@pytest.mark.parametrize(
    "before, after, left_out",
    [
        ("2026-11-05", "2026-11-06", 2),  # both on or after the newest load (11-01): no effect
        ("2026-10-20", "2026-10-21", 0),  # before the newest load: it caps load dates
    ],
)
def test_the_reference_date_counts_only_while_it_caps_a_load(engine, before, after, left_out) -> None:
    # stg_account_versions reads var('reference_date') through its macro (macros/history.sql)
    staging_builds.record(
        engine, staging_builds.fingerprints(engine, MANIFEST, MODELS, {"reference_date": before}), "run-1"
    )
    current = staging_builds.fingerprints(engine, MANIFEST, MODELS, {"reference_date": after})
    assert len(staging_builds.unchanged(engine, MANIFEST, current)) == left_out


def _with_unit_test(manifest=MANIFEST) -> dict:
    manifest = copy.deepcopy(manifest)
    manifest["metadata"] = {"dbt_version": "1.11.16", "adapter_type": "duckdb"}
    manifest["unit_tests"] = {
        "unit_test.healthscore.int_days.days_count_from_known": {
            "name": "days_count_from_known",
            "model": "int_days",
            "given": [{"input": "ref('stg_accounts')", "rows": [{"id": 1}]}],
            "expect": {"rows": [{"id": 1}]},
            "overrides": None,
            "config": {},
            "depends_on": {"nodes": ["model.healthscore.int_days"], "macros": []},
        }
    }
    return manifest


UNIT = "unit_test.healthscore.int_days.days_count_from_known"


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["unit_tests"][UNIT]["expect"]["rows"].append({"id": 2}),  # the test itself
        lambda m: m["nodes"]["model.healthscore.int_days"]["checksum"].update(
            checksum="new sql"
        ),  # its model
        # a model upstream of it (the fixtures take its column types)
        lambda m: m["nodes"]["model.healthscore.stg_account_versions"]["columns"].update(
            id={"data_type": "int"}
        ),
        lambda m: m["macros"]["macro.healthscore.scd2_versions"].update(
            macro_sql="{% macro x() %}{% endmacro %}"
        ),
        lambda m: m["metadata"].update(dbt_version="1.12.0"),
    ],
)
def test_a_unit_test_runs_again_when_any_code_it_depends_on_changes(engine, edit) -> None:
    manifest = _with_unit_test()
    current = staging_builds.unit_test_fingerprints(manifest, MODELS)
    assert list(current) == [UNIT]
    assert staging_builds.unchanged(engine, manifest, current) == []  # never passed: it runs
    staging_builds.record(engine, current, "run-1")
    assert staging_builds.unchanged(engine, manifest, current) == [UNIT]  # passed on this code
    # new data does not matter to a unit test
    engine.execute("insert into raw.accounts values (3)")
    again = staging_builds.unit_test_fingerprints(manifest, MODELS)
    assert staging_builds.unchanged(engine, manifest, again) == [UNIT]
    edit(manifest)
    assert (
        staging_builds.unchanged(engine, manifest, staging_builds.unit_test_fingerprints(manifest, MODELS))
        == []
    )
    # only the unit tests on the selected models
    assert staging_builds.unit_test_fingerprints(manifest, ["model.healthscore.stg_accounts"]) == {}


def test_unit_tests_left_out_are_excluded_by_name() -> None:
    manifest = _with_unit_test()
    fqn = {uid: ".".join(node["fqn"]) for uid, node in manifest["nodes"].items()}
    logged: list[str] = []
    context = SimpleNamespace(log=SimpleNamespace(info=logged.append))
    selection = ["--select", " ".join(fqn.values())]
    new, models, left_out = _without(selection, manifest, lambda models, _m: [UNIT], context)
    assert new == [*selection, "--exclude", "unit_test:days_count_from_known"]
    assert left_out == [] and models == MODELS  # every model is still built
    assert "1 dbt unit test(s) not run" in logged[0] and "days_count_from_known" in logged[0]
    # an existing --exclude is extended
    new, _models, _left = _without(
        [*selection, "--exclude", "fqn:x"], manifest, lambda models, _m: [UNIT], context
    )
    assert new[-2:] == ["--exclude", "fqn:x unit_test:days_count_from_known"]


def test_unit_tests_and_unchanged_tables_left_out_together() -> None:
    manifest = _with_unit_test()
    fqn = {uid: ".".join(node["fqn"]) for uid, node in manifest["nodes"].items()}
    context = SimpleNamespace(log=SimpleNamespace(info=lambda _message: None))
    selection = ["--select", " ".join(fqn.values())]
    dropped = ["model.healthscore.stg_account_versions", "model.healthscore.stg_accounts"]
    new, models, left_out = _without(selection, manifest, lambda models, _m: [UNIT, *dropped], context)
    assert left_out == dropped
    assert models == ["model.healthscore.stg_usage", "model.healthscore.int_days"]
    assert fqn["model.healthscore.stg_accounts"] not in new[1].split()
    assert new[-2:] == ["--exclude", "unit_test:days_count_from_known"]
