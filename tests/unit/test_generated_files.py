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
    assert set(tables) == set(CONTRACTS)
    for name, contract in CONTRACTS.items():
        freshness = tables[name]["config"]["freshness"]
        assert freshness["warn_after"]["count"] == contract.stale_after_days
        assert freshness["error_after"]["count"] == 2 * contract.stale_after_days
        assert [c["name"] for c in tables[name]["columns"]][: len(contract.columns)] == contract.column_names
