"""Sentiment on a small demo run: planted "silent sufferers" (normal usage, strongly negative
text; see orchestration/lib/demo/) score lower, with sentiment named in their reasons,
and no e-mail address or phone number reaches a published table.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from orchestration.defs.resources import WarehouseResource
from orchestration.lib.demo.generate import generate_demo_data
from orchestration.lib.demo.params import FATE_RATES
from orchestration.lib.demo.sql import _Sql
from tests.dates import DEMO_END_DATE, pinned_env

pytestmark = pytest.mark.slow

ACCOUNTS = 150
DAYS = 200
SEED = 42  # 9 silent sufferers among 150 accounts with this seed


def _fates(seed: int, accounts: int) -> dict[str, str]:
    """The fate the generator planted for each account (same hash draw as demo_data)."""
    r = _Sql(seed)
    c, e, d, s = (FATE_RATES[k] for k in ("churn", "expand", "downgrade", "silent"))
    rows = duckdb.sql(
        f"""select 'ACC-' || lpad(i::varchar, 6, '0'),
            case when uf < {c} then 'churn' when uf < {c + e} then 'expand'
                 when uf < {c + e + d} then 'downgrade' when uf < {c + e + d + s} then 'silent'
                 else 'renew' end
        from (select i, {r.u("fate", "i")} as uf from range(1, {accounts} + 1) t(i))"""
    ).fetchall()
    return dict(rows)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("sentiment")
    mp = pytest.MonkeyPatch()
    path = root / "warehouse" / "healthscore.duckdb"
    mp.setenv("HEALTHSCORE_WAREHOUSE", str(path))
    mp.setenv("HEALTHSCORE_LANDING_DIR", str(root / "landing"))
    for name, value in pinned_env().items():
        mp.setenv(name, value)
    generate_demo_data(root / "landing", accounts=ACCOUNTS, days=DAYS, seed=SEED, end_date=DEMO_END_DATE)
    from orchestration.definitions import build_definitions

    defs = build_definitions(WarehouseResource(warehouse_path=str(path), landing_dir=str(root / "landing")))
    result = defs.resolve_job_def("healthscore_all").execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    con = duckdb.connect(str(path))
    con.execute("create temp table fate (account_id varchar, fate varchar)")
    con.executemany("insert into fate values (?, ?)", list(_fates(SEED, ACCOUNTS).items()))
    yield con
    con.close()
    mp.undo()


def test_silent_sufferers_score_lower_with_sentiment_in_their_reasons(warehouse):
    rows = warehouse.execute(
        """select fate, count(*), avg(health_score),
            -- the at-risk wording of the sentiment factors (scorecards/default.yml)
            count(*) filter (where top_reasons like '%tickets, survey comments, notes and mentions%'
                or top_reasons like '%read negative%' or top_reasons like '%turned more negative%')
        from scores.health_scores_current join fate using (account_id)
        where objective = 'retention_risk' and grade <> 'churned' and fate in ('silent', 'renew')
        group by fate"""
    ).fetchall()
    by_fate = {fate: (n, avg, named) for fate, n, avg, named in rows}
    silent_n, silent_avg, silent_named = by_fate["silent"]
    renew_n, renew_avg, renew_named = by_fate["renew"]
    assert silent_n >= 3
    assert silent_avg < renew_avg - 8, by_fate
    # top_reasons holds three factors; sentiment leads them for most silent sufferers ...
    assert silent_named / silent_n >= 0.75, by_fate
    assert renew_named / renew_n < 0.25, by_fate
    # ... and every one of them has a sentiment factor at risk, with its reason, in the factor table.
    at_risk = warehouse.execute(
        """select count(distinct f.account_id)
        from scores.health_score_factors f
        join scores.health_scores_current s using (score_version, account_id, as_of_date, objective)
        join fate using (account_id)
        where fate = 'silent' and s.grade <> 'churned' and f.objective = 'retention_risk'
            and f.factor in ('negative_texts', 'ticket_sentiment', 'notes_sentiment', 'survey_sentiment')
            and f.factor_score < 25 and f.reason like '%negative%'"""
    ).fetchone()[0]
    assert at_risk == silent_n

    # The sentiment group itself separates them (not only their middling AM ratings).
    group = dict(
        warehouse.execute(
            """select fate, avg(f.factor_score)
            from scores.health_score_factors f
            join scores.health_scores_current s using (score_version, account_id, as_of_date, objective)
            join fate using (account_id)
            where f.objective = 'retention_risk' and f.factor = 'negative_texts' and s.grade <> 'churned'
            group by fate"""
        ).fetchall()
    )
    assert group["silent"] < 30 < 70 < group["renew"], group


def test_explanations_name_the_worst_recent_text(warehouse):
    explained = warehouse.execute(
        """select sentiment_top_negative from marts.fct_account_features_daily join fate using (account_id)
        where fate = 'silent' and sentiment_top_negative is not null"""
    ).fetchall()
    assert explained
    assert all(" in the last 14 days" in r[0] and '"' in r[0] for r in explained)


def test_no_personal_data_in_published_sentiment(warehouse):
    planted = warehouse.execute(
        """select count(*) from staging.stg_support__tickets
        where body like '% Contact me at %' or body like '% Call me on %'"""
    ).fetchone()[0]
    assert planted > 0
    leaks = warehouse.execute(
        r"""select count(*) from sentiment.text_scores
        where regexp_matches(excerpt, '@|\+1 555 0\d\d')"""
    ).fetchone()[0]
    leaks += warehouse.execute(
        r"""select count(*) from marts.fct_account_features_daily
        where regexp_matches(sentiment_top_negative, '@|\+1 555 0\d\d')"""
    ).fetchone()[0]
    assert leaks == 0


def test_rescoring_scores_nothing_new(warehouse):
    from orchestration.defs.sentiment.assets import STAGING_MODELS
    from orchestration.defs.transform.assets import relation_for
    from orchestration.lib.sentiment.score import score_warehouse_texts

    before = warehouse.execute("select count(*) from sentiment.text_score_cache").fetchone()[0]
    run = score_warehouse_texts(warehouse, {c: relation_for(m) for c, m in STAGING_MODELS.items()})
    assert run.distinct_new_texts == 0
    assert warehouse.execute("select count(*) from sentiment.text_score_cache").fetchone()[0] == before
