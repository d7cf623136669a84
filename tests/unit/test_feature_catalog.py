"""The feature catalog without marts.dim_features (an older warehouse): the mart's own columns,
typed from the warehouse, with keys, label and bookkeeping never offered as features."""

from __future__ import annotations

import duckdb

from orchestration.lib.features.catalog import feature_catalog, format_catalog


def test_fallback_types_and_kinds_from_the_mart_columns() -> None:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_account_features_daily (account_id varchar, as_of_date date, "
        "is_churned boolean, segment varchar, tenure_days integer, mrr double, attr_auto_renew boolean, "
        "attr_first_bill date, metric_storage_gb__latest double, inputs_loaded_through timestamp)"
    )
    every = feature_catalog(con)
    assert {n: (i.type, i.kind) for n, i in every.items()} == {
        "account_id": ("key", "key"),
        "as_of_date": ("key", "key"),
        "is_churned": ("boolean", "label"),
        "segment": ("categorical", "standard"),
        "tenure_days": ("numeric", "standard"),
        "mrr": ("numeric", "standard"),
        "attr_auto_renew": ("boolean", "attribute"),
        "attr_first_bill": ("date", "attribute"),
        "metric_storage_gb__latest": ("numeric", "metric"),
        "inputs_loaded_through": ("date", "bookkeeping"),
    }
    features = feature_catalog(con, features_only=True)
    assert list(features) == [
        "segment",
        "tenure_days",
        "mrr",
        "attr_auto_renew",
        "attr_first_bill",
        "metric_storage_gb__latest",
    ]
    text = format_catalog(features)
    assert text.splitlines()[0].split() == ["feature", "type", "kind", "description"]
    assert "attr_auto_renew" in text and "is_churned" not in text
