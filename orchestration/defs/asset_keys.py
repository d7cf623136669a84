"""The asset keys the code names, each defined once (dbt models' keys come from dagster-dbt:
`get_asset_key_for_model`). The flow: raw/<source> -> dbt models -> scores/<table> ->
published/snapshot; sentiment/text_scores feeds the features; backtest/default_scorecard on demand."""

import dagster as dg


def raw_key(source: str) -> dg.AssetKey:
    """A landing source loaded into raw.<source> (one asset per contract)."""
    return dg.AssetKey(["raw", source])


def scores_key(table: str) -> dg.AssetKey:
    """A table of schema `scores` written by the scoring multi-asset."""
    return dg.AssetKey(["scores", table])


HEALTH_SCORES = scores_key("health_scores")
TEXT_SCORES = dg.AssetKey(["sentiment", "text_scores"])
PUBLISHED_SNAPSHOT = dg.AssetKey(["published", "snapshot"])
BACKTEST_DEFAULT_SCORECARD = dg.AssetKey(["backtest", "default_scorecard"])
