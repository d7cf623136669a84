"""Score the warehouse's free text (tickets, surveys, notes, social) into sentiment.text_scores,
with a cache keyed by content hash and model version."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestration.lib.engines.dialect import DUCKDB, Dialect, create_table_sql, quote_literal
from orchestration.lib.engines.factory import as_engine
from orchestration.lib.sentiment.model import (
    LEXICON_PATH,
    NEGATIVE_BELOW,
    POSITIVE_ABOVE,
    VERY_NEGATIVE_BELOW,
    SentimentModel,
    _load_json,
    excerpt,
    load_model,
)

CHANNELS = ("tickets", "surveys", "notes", "social")
SCORES_TABLE = "sentiment.text_scores"
CACHE_TABLE = "sentiment.text_score_cache"


def texts_sql(relations: dict[str, str], dialect: Dialect = DUCKDB) -> str:
    """SQL: channel, record_id, account_id, known_at, text, content_hash of every non-empty text.

    relations: channel -> schema.table of its staging view. A survey verbatim is known when the
    response came back, not when the invitation went out."""
    return f"""
        with texts as (
            select 'tickets' as channel, ticket_id as record_id, account_id, known_at,
                concat_ws('. ', nullif(trim(subject), ''), nullif(trim(body), '')) as text
            from {relations["tickets"]}
            union all
            select 'surveys', response_id, account_id, greatest(coalesce(responded_at, known_at), known_at),
                nullif(trim(verbatim), '')
            from {relations["surveys"]}
            union all
            select 'notes', note_id, account_id, known_at, nullif(trim(note_text), '')
            from {relations["notes"]}
            union all
            select 'social', mention_id, account_id, known_at, nullif(trim(mention_text), '')
            from {relations["social"]}
        )
        select *, {dialect.sha256_hex("text")} as content_hash
        from texts
        where text is not null and text <> ''
    """


def topic_of(text: str, topics: dict[str, str]) -> str | None:
    lowered = text.lower()
    return next((topic for keyword, topic in topics.items() if keyword in lowered), None)


@dataclass
class ScoringRun:
    model_version: str
    texts: int
    distinct_new_texts: int
    seconds: float


def score_warehouse_texts(
    con,
    relations: dict[str, str],
    model: SentimentModel | None = None,
    batch_size: int = 5000,
    log: Callable[[str], None] = lambda _msg: None,
    progress: Callable[[str], object] = lambda _msg: None,
) -> ScoringRun:
    """Score the texts whose (content hash, model version) is not scored yet, then rebuild
    sentiment.text_scores (one row per record) from the score cache.

    Texts stream from the warehouse in batches (orchestration/lib/engines/, any engine):
    memory stays flat however many texts there are."""
    import pyarrow as pa

    engine = as_engine(con)
    started = time.perf_counter()
    model = model or load_model()
    version = model.model_version
    topics = _load_json(LEXICON_PATH)["topics"]
    engine.create_schema("sentiment")
    engine.execute(
        create_table_sql(
            engine.dialect,
            CACHE_TABLE,
            "content_hash varchar, model_version varchar, compound double, excerpt varchar, "
            "topic varchar, scored_at timestamp",
        )
    )
    source = texts_sql(relations, engine.dialect)
    new = 0
    # Read everything first: on Spark the scored batches below are appended to the cache table
    # this query reads.
    pending = f"""select content_hash, max(text) as text from ({source}) as t
        where not exists (
            select 1 from {CACHE_TABLE} as c
            where c.content_hash = t.content_hash and c.model_version = {quote_literal(version)}
        )
        group by content_hash"""
    if engine.name == "spark":
        engine.create_temp("_sentiment_pending", pending)
        pending = "select content_hash, text from _sentiment_pending"
    try:
        for rows in engine.iter_rows(pending, size=batch_size):
            hashes = [r[0] for r in rows]
            texts = [r[1] for r in rows]
            compounds = [max(-1.0, min(1.0, float(c))) for c in model.score(texts)]
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            batch = pa.record_batch(
                {
                    "content_hash": hashes,
                    "model_version": [version] * len(rows),
                    "compound": pa.array(compounds, pa.float64()),
                    "excerpt": [excerpt(t) for t in texts],
                    "topic": pa.array([topic_of(t, topics) for t in texts], pa.string()),
                    "scored_at": pa.array([now] * len(rows), pa.timestamp("us")),
                }
            )
            engine.append_arrow(CACHE_TABLE, [batch])
            new += len(rows)
            log(f"scored {new:,} new texts")
            progress(f"scored {new:,} new texts")
    finally:
        engine.drop_temp("_sentiment_pending")
    engine.replace_table(
        SCORES_TABLE,
        f"""
        select t.channel, t.record_id, t.account_id, t.known_at, t.content_hash, c.model_version,
            c.compound,
            case when c.compound <= {NEGATIVE_BELOW} then 'negative'
                 when c.compound >= {POSITIVE_ABOVE} then 'positive' else 'neutral' end as label,
            c.compound <= {VERY_NEGATIVE_BELOW} as is_very_negative,
            c.topic,
            c.excerpt
        from ({source}) as t
        inner join {CACHE_TABLE} as c
            on c.content_hash = t.content_hash and c.model_version = {quote_literal(version)}
        order by t.account_id, t.known_at""",
    )
    total = engine.execute(f"select count(*) from {SCORES_TABLE}").fetchone()[0]
    return ScoringRun(version, total, new, round(time.perf_counter() - started, 2))
