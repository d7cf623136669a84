"""The sentiment model interface, PII masking and the incremental warehouse scoring."""

from __future__ import annotations

import duckdb
import pytest

from orchestration.lib.sentiment.model import (
    EXCERPT_CHARS,
    MODEL_ENV,
    NEGATIVE_BELOW,
    POSITIVE_ABOVE,
    CachedModel,
    DefaultSentimentModel,
    SentimentModel,
    excerpt,
    load_model,
    mask_pii,
)
from orchestration.lib.sentiment.score import CHANNELS, score_warehouse_texts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Contact me at anna.smith@acme-corp.com.", "Contact me at [email]."),
        ("Call me on +1 555 0142.", "Call me on [phone]."),
        ("Call (415) 555-2671 or +44 20 7946 0958 today", "Call [phone] or [phone] today"),
        ("Mail j.doe+billing@mail.example.co.uk now", "Mail [email] now"),
        # not personal data: dates, short numbers, versions, ticket ids
        ("Opened 2026-04-30 12:00 as ticket 12345", "Opened 2026-04-30 12:00 as ticket 12345"),
        ("Upgrade to v2.3.1 fixed it", "Upgrade to v2.3.1 fixed it"),
        (None, ""),
    ],
)
def test_mask_pii(text, expected):
    assert mask_pii(text) == expected


def test_excerpt_is_masked_single_line_and_short():
    text = "Outage again.\nCall me on +1 555 0199. " + "x" * 400
    out = excerpt(text)
    assert "\n" not in out and "555" not in out and "[phone]" in out
    assert len(out) <= EXCERPT_CHARS and out.endswith("...")


def test_default_model_reads_b2b_support_language():
    model = DefaultSentimentModel()
    negative = [
        "Outage: dashboard down again. This is the third outage this month.",
        "We are still waiting for an answer after more than a week.",
        "If this is not resolved this week we will cancel our contract.",
        "Billing error again, we want a refund",
    ]
    positive = ["Thanks a lot for the quick fix yesterday!", "Loving the new dashboards, huge time saver"]
    scores = model.score(negative + positive)
    assert all(-1 <= s <= 1 for s in scores)
    # the thresholds the warehouse labels with (sentiment.text_scores.label, score.py)
    assert all(s <= NEGATIVE_BELOW for s in scores[: len(negative)]), scores
    assert all(s >= POSITIVE_ABOVE for s in scores[len(negative) :]), scores
    assert model.score([""]) == [0.0]


class ConstantModel:
    """A user's own model, plugged in by configuration."""

    model_version = "constant-1"
    calls = 0

    def score(self, texts: list[str]) -> list[float]:
        ConstantModel.calls += len(texts)
        return [-0.5 for _ in texts]


def test_load_model_from_dotted_path(monkeypatch):
    monkeypatch.setenv(MODEL_ENV, f"{__name__}:ConstantModel")
    model = load_model()
    assert isinstance(model, SentimentModel)
    assert model.model_version == "constant-1"
    assert model.score(["anything"]) == [-0.5]
    with pytest.raises(ValueError, match="module:Class"):
        load_model("no_colon_here")


def test_cached_model_scores_each_distinct_text_once():
    ConstantModel.calls = 0
    cached = CachedModel(ConstantModel())
    assert cached.score(["a", "b", "a"]) == [-0.5, -0.5, -0.5]
    assert cached.score(["b", "c"]) == [-0.5, -0.5]
    assert ConstantModel.calls == 3


def _staging(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    con.execute("create schema staging")
    con.execute(
        """create table staging.tickets as select * from (values
            ('T1', 'A1', timestamp '2026-04-01 09:00', 'Outage', 'Down again. Mail me at a.b@c.com'),
            ('T2', 'A1', timestamp '2026-04-02 09:00', 'Outage', 'Down again. Mail me at a.b@c.com'),
            ('T3', 'A2', timestamp '2026-04-02 09:00', null, null)
        ) as t(ticket_id, account_id, known_at, subject, body)"""
    )
    con.execute(
        """create table staging.surveys as select * from (values
            ('R1', 'A2', timestamp '2026-03-01', timestamp '2026-03-05', 'Love the product')
        ) as t(response_id, account_id, known_at, responded_at, verbatim)"""
    )
    con.execute(
        """create table staging.notes as select * from (values
            ('N1', 'A1', timestamp '2026-04-03', 'Budget cuts mentioned, renewal at risk.')
        ) as t(note_id, account_id, known_at, note_text)"""
    )
    con.execute(
        """create table staging.social as select * from (values
            ('S1', 'A2', timestamp '2026-04-04', '')
        ) as t(mention_id, account_id, known_at, mention_text)"""
    )
    return {c: f"staging.{c}" for c in CHANNELS}


def test_warehouse_scoring_is_incremental_by_hash_and_version():
    ConstantModel.calls = 0
    con = duckdb.connect(":memory:")
    relations = _staging(con)
    first = score_warehouse_texts(con, relations, ConstantModel(), batch_size=1)
    # 3 records with text (empty/null texts are skipped), T1 and T2 share one text
    assert (first.texts, first.distinct_new_texts, ConstantModel.calls) == (4, 3, 3)
    rows = con.execute(
        "select channel, record_id, known_at::date, label, excerpt from sentiment.text_scores order by record_id"
    ).fetchall()
    assert [r[1] for r in rows] == ["N1", "R1", "T1", "T2"]
    survey = next(r for r in rows if r[1] == "R1")
    assert str(survey[2]) == "2026-03-05"  # a verbatim is known from its response
    assert all("@" not in r[4] for r in rows) and "[email]" in rows[2][4]
    assert {r[3] for r in rows} == {"negative"}

    con.execute("insert into staging.notes values ('N2', 'A1', timestamp '2026-04-05', 'Great QBR.')")
    second = score_warehouse_texts(con, relations, ConstantModel())
    assert (second.texts, second.distinct_new_texts, ConstantModel.calls) == (5, 1, 4)

    # a new model version scores everything again, the cache keeps both versions
    default = score_warehouse_texts(con, relations, DefaultSentimentModel())
    assert default.distinct_new_texts == 4
    cache = "sentiment.text_score_cache"
    assert con.execute(f"select count(distinct model_version) from {cache}").fetchone()[0] == 2
    great = con.execute("select label from sentiment.text_scores where record_id = 'N2'").fetchone()[0]
    assert great == "positive"
