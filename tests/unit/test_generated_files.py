"""The generated dbt sources file and docs/sources.md must match the source contracts."""

from orchestration.lib.contracts.docgen import (
    DBT_SOURCES_PATH,
    SOURCES_DOC_PATH,
    render_dbt_sources,
    render_sources_doc,
)

REGENERATE = "regenerate with: python -c 'from orchestration.lib.contracts.docgen import write_generated_files as w; w()'"


def test_dbt_sources_file_matches_contracts() -> None:
    assert DBT_SOURCES_PATH.read_text(encoding="utf-8") == render_dbt_sources(), REGENERATE


def test_sources_doc_matches_contracts() -> None:
    assert SOURCES_DOC_PATH.read_text(encoding="utf-8") == render_sources_doc(), REGENERATE


def test_every_contract_is_a_dbt_source_table() -> None:
    import yaml

    from orchestration.lib.contracts.sources import CONTRACTS

    document = yaml.safe_load(render_dbt_sources())
    (source,) = document["sources"]
    assert source["name"] == "raw" and source["schema"] == "raw"
    tables = {t["name"]: t for t in source["tables"]}
    # every contract, plus the loader tables the custom-feature models read
    assert set(tables) == set(CONTRACTS) | {"_attribute_values", "_feature_declarations"}
    for name, contract in CONTRACTS.items():
        freshness = tables[name]["config"]["freshness"]
        assert freshness["warn_after"]["count"] == contract.stale_after_days
        assert freshness["error_after"]["count"] == 2 * contract.stale_after_days
        assert [c["name"] for c in tables[name]["columns"]][: len(contract.columns)] == contract.column_names


def test_staging_accepted_values_match_the_contracts(dbt_manifest) -> None:
    """The staging models' accepted_values tests repeat the contracts' allowed values (dbt tests
    cannot import Python): every one must equal its contract column's list, and every contract
    column with allowed values that a staging model keeps must have one."""
    import json

    from orchestration.lib.contracts.sources import CONTRACTS

    manifest = json.loads(dbt_manifest.read_text())
    nodes = manifest["nodes"]
    tested: dict[tuple[str, str], set[str]] = {}
    for node in nodes.values():
        meta = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and meta.get("name") == "accepted_values":
            model = nodes[node["attached_node"]]
            tested[(model["name"], node["column_name"])] = set(meta["kwargs"]["values"])
    checked = 0
    for model in nodes.values():
        if model["resource_type"] != "model" or not model["name"].startswith("stg_"):
            continue
        raw = [s.split(".")[-1] for s in model["depends_on"]["nodes"] if s.startswith("source.")]
        for source in raw:
            for column in CONTRACTS[source].columns:
                if column.allowed_values is None or column.name not in model["columns"]:
                    continue
                values = tested.get((model["name"], column.name))
                assert values is not None, f"{model['name']}.{column.name}: no accepted_values test"
                assert values == set(column.allowed_values), (
                    f"{model['name']}.{column.name}: {sorted(values)} != contract {column.allowed_values}"
                )
                checked += 1
    assert checked >= 9  # the test found the staging columns it is about (segment is free text)
