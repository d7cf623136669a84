"""Files derived from the source contracts: the dbt sources YAML and docs/sources.md.

Both are generated, committed, and checked by tests/unit/test_generated_files.py, so
they cannot drift from lib/contracts/sources.py. Regenerate with `write_generated_files()`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestration.lib.contracts.sources import (
    CONTRACTS,
    FORMATS,
    LOAD_METADATA_COLUMNS,
    TIMESTAMP,
    Column,
    SourceContract,
)
from orchestration.lib.settings import PROJECT_ROOT

DBT_SOURCES_PATH = PROJECT_ROOT / "dbt_project" / "models" / "staging" / "_raw__sources.yml"
SOURCES_DOC_PATH = PROJECT_ROOT / "docs" / "sources.md"
LANDING_FORMATS = tuple(dict.fromkeys(FORMATS.values()))

_GENERATED_HEADER = (
    "# GENERATED from orchestration/lib/contracts/sources.py by orchestration.lib.contracts.docgen.\n"
    "# Do not edit: change the contract and run write_generated_files().\n"
)


class _Dumper(yaml.SafeDumper):
    """Block-style YAML with list items indented under their key (dbt's usual layout)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _loaded_at_field(contract: SourceContract) -> str:
    column = contract.column(contract.freshness_column)
    if column.type == TIMESTAMP:
        return column.name
    return f"cast({column.name} as timestamp)"


def _column_description(column: Column) -> str:
    parts = [column.description]
    if column.required:
        parts.append("Required.")
    if column.allowed_values:
        parts.append("One of: " + ", ".join(column.allowed_values) + ".")
    if column.references:
        ref = CONTRACTS[column.references]
        parts.append(f"References {ref.name}.{ref.primary_key}.")
    return " ".join(parts)


# Loader bookkeeping that the custom-feature models read (docs/features.md).
FEATURE_SOURCE_TABLES = [
    {
        "name": "_attribute_values",
        "description": (
            "Custom attribute values: one row per loaded record (of accounts or subscriptions) and "
            "declared attribute, as canonical text (numbers as doubles, booleans true/false, dates ISO)."
        ),
        "columns": [
            {"name": "batch_id", "data_type": "varchar", "description": "Load batch of the record."},
            {"name": "source", "data_type": "varchar", "description": "accounts or subscriptions."},
            {"name": "row_number", "data_type": "bigint", "description": "Row of the record in its file."},
            {"name": "record_id", "data_type": "varchar", "description": "The record's primary key."},
            {"name": "name", "data_type": "varchar", "description": "Attribute name."},
            {"name": "value", "data_type": "varchar", "description": "Value (null values are not stored)."},
        ],
    },
    {
        "name": "_feature_declarations",
        "description": (
            "Declared custom attributes and metrics per source (from its mapping or "
            "<landing>/<source>/_features.yml), replaced at every load."
        ),
        "columns": [
            {"name": n, "data_type": "varchar", "description": d}
            for n, d in (
                ("source", "Source declaring it."),
                ("kind", "attribute or metric."),
                ("name", "Feature name: attr_<name>, metric_<name>__<aggregation>."),
                ("feature_type", "categorical, numeric, boolean or date (metrics: numeric)."),
                ("description", "What it is."),
                ("origin", "Metrics: the usage feature / metric name in the data."),
                ("windows", "Metrics: comma-separated window lengths in days."),
                ("aggregations", "Metrics: comma-separated aggregations (sum, avg, latest, change)."),
                ("declared_in", "The mapping or declarations file."),
            )
        ],
    },
]


def render_dbt_sources() -> str:
    tables = []
    for contract in CONTRACTS.values():
        description = contract.description
        if contract.notes:
            description += " " + " ".join(contract.notes)
        description += f" Known at: `{contract.known_at}`."
        columns = [
            {"name": c.name, "data_type": c.type, "description": _column_description(c)}
            for c in contract.columns
        ]
        columns += [
            {"name": name, "data_type": type_, "description": text}
            for name, type_, text in LOAD_METADATA_COLUMNS
        ]
        tables.append(
            {
                "name": contract.name,
                "description": description,
                "config": {
                    "loaded_at_field": _loaded_at_field(contract),
                    "freshness": {
                        "warn_after": {"count": contract.stale_after_days, "period": "day"},
                        "error_after": {"count": 2 * contract.stale_after_days, "period": "day"},
                    },
                },
                "columns": columns,
            }
        )
    tables += FEATURE_SOURCE_TABLES
    document = {
        "version": 2,
        "sources": [
            {
                "name": "raw",
                "schema": "raw",
                "description": "Landing files loaded as-is (typed per contract) by the ingest assets.",
                "tables": tables,
            }
        ],
    }
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return _GENERATED_HEADER + body


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _range(column: Column) -> str:
    if column.min_value is None and column.max_value is None:
        return ""
    low = "" if column.min_value is None else f"{column.min_value:g}"
    high = "" if column.max_value is None else f"{column.max_value:g}"
    if low and high:
        return f"{low} to {high}"
    return f">= {low}" if low else f"<= {high}"


def render_sources_doc() -> str:
    lines = [
        "<!-- GENERATED from orchestration/lib/contracts/sources.py by orchestration.lib.contracts.docgen: do not edit. -->",
        "",
        "# Sources",
        "",
        "Every landing source, as defined by its contract in `orchestration/lib/contracts/sources.py`.",
        "The loader casts each column to its type, the quality gates check required values,",
        "allowed values, ranges and references, and the point-in-time features use a record",
        "only from its **known at** instant: a feature as of date D uses records whose",
        "known_at is before D + 1 day.",
        "",
        "## Landing zone",
        "",
        "- Files go to `<landing>/<source>/*.csv|*.parquet|*.jsonl` "
        "(CSV with a header row, Parquet, or JSON Lines), one folder per source below.",
        "- A file is identified by its SHA-256 checksum: the same content is never loaded twice.",
        "- Rows land in `raw.<source>` with exactly the contract columns, cast to their types, "
        "plus the load metadata columns below.",
        "- A raw table may hold the same primary key more than once (re-exports); staging keeps "
        "the row from the latest load (`_loaded_at` desc, then `_row_number` desc).",
        "",
        "## Load metadata columns (every raw table)",
        "",
        "| Column | Type | Description |",
        "| --- | --- | --- |",
    ]
    for name, type_, text in LOAD_METADATA_COLUMNS:
        lines.append(f"| `{name}` | {type_} | {_md_cell(text)} |")
    lines += ["", "## Summary", "", "| Source | Key | Known at | Stale after (days) | Severity |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for c in CONTRACTS.values():
        lines.append(
            f"| [`{c.name}`](#{c.name}) | `{c.primary_key}` | `{_md_cell(c.known_at)}` "
            f"| {c.stale_after_days} | {c.stale_severity} |"
        )
    for c in CONTRACTS.values():
        lines += [
            "",
            f"## {c.name}",
            "",
            c.description,
            "",
            f"- Landing folder: `<landing>/{c.name}/`; raw table: `{c.raw_table}`",
            f"- Primary key: `{c.primary_key}`",
            f"- Known at: `{c.known_at}`",
            f"- Freshness: newest `{c.freshness_column}` older than {c.stale_after_days} days is stale "
            f"(severity: {c.stale_severity}; dbt source freshness warns after {c.stale_after_days} "
            f"days and errors after {2 * c.stale_after_days})",
            "",
            "| Column | Type | Required | Allowed values | Range | References | Description |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for col in c.columns:
            allowed = ", ".join(f"`{v}`" for v in col.allowed_values) if col.allowed_values else ""
            ref = ""
            if col.references:
                ref = f"`{col.references}.{CONTRACTS[col.references].primary_key}`"
            lines.append(
                f"| `{col.name}` | {col.type} | {'yes' if col.required else 'no'} | {allowed} "
                f"| {_range(col)} | {ref} | {_md_cell(col.description)} |"
            )
        if c.notes:
            lines += ["", "Notes:", ""]
            lines += [f"- {note}" for note in c.notes]
    lines.append("")
    return "\n".join(lines)


def write_generated_files() -> list[Path]:
    written = []
    for path, text in ((DBT_SOURCES_PATH, render_dbt_sources()), (SOURCES_DOC_PATH, render_sources_doc())):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
