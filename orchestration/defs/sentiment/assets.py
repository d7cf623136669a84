"""The sentiment asset: every text in the staging views scored once per model version.

It sits between two parts of the dbt project: it reads the staging views and writes
sentiment.text_scores, which dbt declares as a source of int_account_sentiment_daily. Dagster
runs the dbt multi-asset in two steps around it (staging first, then the rest).
"""

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from orchestration.defs.asset_keys import TEXT_SCORES
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.transform.assets import healthscore_dbt_models, relation_for
from orchestration.lib.progress import Progress
from orchestration.lib.sentiment.model import load_model
from orchestration.lib.sentiment.score import SCORES_TABLE, score_warehouse_texts

STAGING_MODELS = {
    "tickets": "stg_support__tickets",
    "surveys": "stg_surveys__responses",
    "notes": "stg_crm__account_notes",
    "social": "stg_social__mentions",
}


@dg.asset(
    key=TEXT_SCORES,
    group_name="sentiment",
    deps=[get_asset_key_for_model([healthscore_dbt_models], model) for model in STAGING_MODELS.values()],
    kinds={"duckdb", "python"},
    description=(
        "One row per ticket, survey verbatim, account-manager note and social mention: sentiment "
        "compound in [-1, 1], label, topic and a PII-masked excerpt. Each distinct text is scored once "
        "per model version (cache: sentiment.text_score_cache). Model: $HEALTHSCORE_SENTIMENT_MODEL "
        "(module:Class) or the default VADER + B2B lexicon + logistic regression."
    ),
)
def text_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    relations = {channel: relation_for(model) for channel, model in STAGING_MODELS.items()}
    model = load_model()
    with warehouse.connect() as con:
        run = score_warehouse_texts(
            con, relations, model, log=context.log.info, progress=Progress(context.log.info)
        )
        by_channel = dict(
            con.execute(
                f"select channel, count(*) from {SCORES_TABLE} group by channel order by channel"
            ).fetchall()
        )
        negative = con.execute(f"select count(*) from {SCORES_TABLE} where label = 'negative'").fetchone()[0]
    return dg.MaterializeResult(
        metadata={
            "model_version": run.model_version,
            "dagster/row_count": run.texts,
            "texts_scored_this_run": run.distinct_new_texts,
            "negative_texts": negative,
            "texts_by_channel": dg.MetadataValue.json(by_channel),
            "seconds": run.seconds,
        }
    )
