"""The feature catalog: what the feature mart offers, with types (docs/features.md).

`marts.dim_features` (built by dbt after the mart) has one row per column of
`fct_account_features_daily`: its type (categorical, numeric, boolean, date; key and text for the
columns that are not features), kind (standard, attribute, metric, custom; key, label,
descriptive, bookkeeping) and description. Scorecards and the learner read it through
`feature_catalog`; without the table (an older warehouse) the mart's columns and warehouse types
stand in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FEATURE_TYPES = ("categorical", "numeric", "boolean", "date")
FEATURE_KINDS = ("standard", "attribute", "metric", "custom")
CATALOG_MODEL = "dim_features"
FEATURES_MODEL = "fct_account_features_daily"
# Columns of the mart that are never features (keys, the churn label, names, build bookkeeping).
_NOT_FEATURES = {
    "account_id": "key",
    "as_of_date": "key",
    "is_churned": "label",
    "churned_on": "label",
    "account_name": "descriptive",
    "owner": "descriptive",
    "parent_account_id": "descriptive",
    "sentiment_top_negative": "descriptive",
    "inputs_loaded_through": "bookkeeping",
    "has_usage_data": "bookkeeping",
    "has_support_data": "bookkeeping",
    "has_survey_data": "bookkeeping",
    "has_billing_data": "bookkeeping",
    "has_notes": "bookkeeping",
}


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    type: str  # categorical | numeric | boolean | date | key | text
    kind: str  # standard | attribute | metric | custom | key | label | descriptive | bookkeeping
    description: str
    source: str

    @property
    def is_feature(self) -> bool:
        return self.kind in FEATURE_KINDS


def _relation(con: Any, name: str) -> str | None:
    rows = con.execute(
        "select table_schema from information_schema.tables where table_name = ? order by table_schema",
        [name],
    ).fetchall()
    return f"{rows[0][0]}.{name}" if rows else None


def type_of_warehouse_type(data_type: str) -> str:
    t = data_type.lower()
    if "bool" in t:
        return "boolean"
    if "date" in t or "time" in t:
        return "date"
    if "char" in t or "text" in t or "string" in t:
        return "categorical"
    return "numeric"


def _kind_of(name: str) -> str:
    if name in _NOT_FEATURES:
        return _NOT_FEATURES[name]
    if name.startswith("attr_"):
        return "attribute"
    if name.startswith("metric_"):
        return "metric"
    return "standard"


def feature_catalog(con: Any, *, features_only: bool = False) -> dict[str, FeatureInfo]:
    """name -> FeatureInfo for every column of the feature mart, in column order (DuckDB)."""
    catalog = _relation(con, CATALOG_MODEL)
    if catalog is not None:
        rows = con.execute(
            f"select feature_name, feature_type, feature_kind, description, source from {catalog} "
            "order by column_position"
        ).fetchall()
        infos = [FeatureInfo(*row) for row in rows]
    else:
        mart = _relation(con, FEATURES_MODEL)
        if mart is None:
            raise LookupError(f"no {FEATURES_MODEL} in the warehouse: build the features first")
        schema, table = mart.split(".")
        rows = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
        infos = []
        for name, data_type in rows:
            kind = _kind_of(name)
            ftype = "key" if kind == "key" else type_of_warehouse_type(data_type)
            if name == "sentiment_top_negative":
                ftype = "text"
            infos.append(FeatureInfo(name, ftype, kind, "", FEATURES_MODEL))
    return {i.name: i for i in infos if i.is_feature or not features_only}


def format_catalog(catalog: dict[str, FeatureInfo]) -> str:
    """The catalog as a plain-text table (what `healthscore features` prints)."""
    width = max((len(n) for n in catalog), default=10)
    lines = [f"{'feature':<{width}}  {'type':<11}  {'kind':<11}  description"]
    for info in catalog.values():
        lines.append(f"{info.name:<{width}}  {info.type:<11}  {info.kind:<11}  {info.description}")
    return "\n".join(lines)
