"""The dbt YAML files say what they mean: every column entry has only dbt's column properties.

A flow mapping such as `{name: x, description: Score version (1, 2, ...).}` is legal YAML, but its
commas split the description into extra keys (`2`, `...).`): the description is cut short, and
the integer key made dbt's partial-parse file unreadable (msgpack's strict map keys), so every run
parsed the whole project again (docs/benchmarks.md, "Fixed costs of a small run")."""

from pathlib import Path

import pytest
import yaml

from orchestration.lib.settings import PROJECT_ROOT

COLUMN_KEYS = {
    "name", "description", "data_type", "constraints", "data_tests", "tests", "meta", "config",
    "quote", "tags", "policy_tags", "granularity",
}  # fmt: skip
YAML_FILES = sorted((PROJECT_ROOT / "dbt_project" / "models").rglob("*.yml"))


def _columns(document: object):
    if isinstance(document, dict):
        if isinstance(document.get("columns"), list):
            yield from document["columns"]
        for value in document.values():
            yield from _columns(value)
    elif isinstance(document, list):
        for value in document:
            yield from _columns(value)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_column_entries_hold_only_column_properties(path: Path) -> None:
    for column in _columns(yaml.safe_load(path.read_text())):
        unknown = [key for key in column if key not in COLUMN_KEYS]
        assert not unknown, (
            f"{path.name}: column {column.get('name')!r} has keys {unknown!r}: quote a description that "
            "holds commas inside a {...} flow mapping"
        )
