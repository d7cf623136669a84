"""Compile a scorecard into SQL that scores every account and date inside the warehouse.

The compiled statements build, in order:
  _sc_factors  one row per account x as_of_date x objective x factor: raw value, factor
               score 0-100, effective weight, contribution, impact and a plain-words reason
  _sc_scores   one row per account x as_of_date x objective: computed score, coverage,
               confidence, grade before human overrides, top reasons, change drivers

Math (docs/scorecards.md): a factor's score is its normalised feature value. A group's
score is the weighted mean of its available factors; the overall score is the weighted
mean of the available groups. A missing factor (NULL feature) is excluded and the weights
re-normalised, so every factor's contribution = effective weight x factor score and the
contributions add up to the score. Coverage is the share of nominal weight that had data;
confidence = coverage x freshness of the account's newest signal.
"""

from __future__ import annotations

import datetime as dt
import re

from .scorecard import Factor, Normalisation, Scorecard

_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")


def lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def num(value: float) -> str:
    return repr(float(value))


def date_lit(value: dt.date) -> str:
    return f"cast('{value.isoformat()}' as date)"


def _variant_case(card: Scorecard, pick, default: str) -> str:
    """CASE over industry overrides, then segment overrides, then the default.

    `pick(variant)` returns the SQL for that variant or None when it does not override.
    """
    whens = []
    for industry, variant in card.industry_overrides.items():
        value = pick(variant)
        if value is not None:
            whens.append(f"when industry = {lit(industry)} then {value}")
    for segment, variant in card.segment_overrides.items():
        value = pick(variant)
        if value is not None:
            whens.append(f"when segment = {lit(segment)} then {value}")
    if not whens:
        return default
    return f"(case {' '.join(whens)} else {default} end)"


def _format_value(expr: str, unit: str) -> str:
    """SQL text for a raw value, in words a CS leader reads."""
    rounded = f"cast(cast(round({expr}, 0) as bigint) as varchar)"
    if unit == "pct":
        return f"{rounded} || '%'"
    if unit == "ratio":
        return f"cast(cast(round({expr} * 100, 0) as bigint) as varchar) || '%'"
    if unit == "currency":
        return f"'$' || {rounded}"
    if unit in ("score", "number", "hours"):
        return f"cast(round({expr}, 1) as varchar)"
    return rounded  # count, days


def _reason_sql(template: str, unit: str) -> str:
    parts: list[str] = []
    pos = 0
    for match in _PLACEHOLDER_RE.finditer(template):
        if match.start() > pos:
            parts.append(lit(template[pos : match.start()]))
        name = match.group(1)
        if name == "value":
            parts.append(_format_value("raw_value", unit))
        elif name == "abs_value":
            parts.append(_format_value("abs(raw_value)", unit))
        else:  # change: rose 12% / fell 42% / held steady
            amount = _format_value("abs(raw_value)", unit)
            parts.append(
                f"(case when round(raw_value, 0) > 0 then 'rose ' || {amount} "
                f"when round(raw_value, 0) < 0 then 'fell ' || {amount} else 'held steady' end)"
            )
        pos = match.end()
    if pos < len(template):
        parts.append(lit(template[pos:]))
    return " || ".join(parts) if parts else "''"


def _factor_score_sql(card: Scorecard, factor: Factor) -> str:
    x = "raw_value"
    norm = factor.normalisation
    if norm.method == "percentile":
        peer = {"all": "", "segment": ", segment", "industry": ", industry"}[norm.peer_group]
        window = f"over (partition by as_of_date{peer}, ({x} is null) order by {x})"
        rank = f"(100.0 * percent_rank() {window})"
        if factor.direction == "lower_is_better":
            rank = f"(100.0 - {rank})"
        # A lone peer has no one to rank against: neutral 50.
        count = f"count({x}) over (partition by as_of_date{peer})"
        return f"(case when {x} is null then null when {count} = 1 then 50.0 else {rank} end)"

    def bound(attr: str):
        def pick(variant):
            override: Normalisation | None = variant.normalisation.get(factor.name)
            return num(getattr(override, attr)) if override is not None else None

        return _variant_case(card, pick, num(getattr(norm, attr)))

    low, high = bound("low"), bound("high")
    if factor.direction == "higher_is_better":
        frac = f"({x} - {low}) / ({high} - {low})"
    else:
        frac = f"({high} - {x}) / ({high} - {low})"
    return f"(case when {x} is null then null else 100.0 * greatest(0.0, least(1.0, {frac})) end)"


def _factor_branch(card: Scorecard, factor: Factor, features: str) -> str:
    return f"""
    select
        account_id, as_of_date, segment, industry,
        {lit(factor.name)} as factor,
        {lit(factor.label)} as factor_label,
        {lit(factor.group)} as factor_group,
        {lit(factor.owner)} as owner,
        {lit(factor.feature)} as feature,
        raw_value,
        {_factor_score_sql(card, factor)} as factor_score,
        {_reason_sql(factor.explain.low, factor.explain.unit)} as reason_low,
        {_reason_sql(factor.explain.high, factor.explain.unit)} as reason_high
    from (
        select account_id, as_of_date, segment, industry,
               cast({factor.feature} as double) as raw_value
        from {features}
    ) as f"""


def _group_weight_sql(card: Scorecard) -> str:
    whens = []
    for objective, obj in card.objectives.items():
        for group in card.groups:

            def pick(variant, objective=objective, group=group):
                weights = variant.group_weights.get(objective)
                return num(weights.get(group, 0.0)) if weights is not None else None

            expr = _variant_case(card, pick, num(obj.group_weights.get(group, 0.0)))
            whens.append(f"when objective = {lit(objective)} and factor_group = {lit(group)} then {expr}")
    return f"(case {' '.join(whens)} else 0.0 end)"


def _factor_weight_sql(card: Scorecard) -> tuple[str, str]:
    """Relative factor weight, and the nominal total of factor weights in its group."""
    weight_whens, total_whens = [], []
    for objective in card.objectives:
        totals: dict[str, float] = {}
        for factor in card.factors:
            w = card.factor_weight(objective, factor)
            totals[factor.group] = totals.get(factor.group, 0.0) + w
            weight_whens.append(
                f"when objective = {lit(objective)} and factor = {lit(factor.name)} then {num(w)}"
            )
        for group, total in totals.items():
            total_whens.append(
                f"when objective = {lit(objective)} and factor_group = {lit(group)} then {num(total)}"
            )
    return f"(case {' '.join(weight_whens)} end)", f"(case {' '.join(total_whens)} end)"


def grade_sql(card: Scorecard, score: str) -> str:
    whens = [f"when {score} >= {num(b.min)} then {lit(b.grade)}" for b in reversed(card.bands[1:])]
    return f"(case when {score} is null then null {' '.join(whens)} else {lit(card.bands[0].grade)} end)"


def compile_scoring(
    card: Scorecard,
    features_table: str,
    as_of_start: dt.date,
    as_of_end: dt.date,
) -> list[tuple[str, str]]:
    """(temp table name, select) pairs to run in order.

    Dates from `as_of_start - change_window_days` are scored too so that every requested
    date has a comparison point; the caller keeps only [as_of_start, as_of_end].
    """
    window = card.change_window_days
    first = as_of_start - dt.timedelta(days=window)
    features = (
        f"(select * from {features_table} "
        f"where as_of_date between {date_lit(first)} and {date_lit(as_of_end)}) as feats"
    )
    branches = "\n    union all".join(_factor_branch(card, f, features) for f in card.factors)
    objectives = " union all ".join(f"select {lit(o)} as objective" for o in card.objectives)
    factor_weight, factor_weight_total = _factor_weight_sql(card)
    conf = card.confidence

    factor_long = f"select * from ({branches}\n) as branches"

    weighted = f"""
    select fl.*, o.objective,
        {_group_weight_sql(card)} as group_weight,
        {factor_weight} as factor_weight,
        {factor_weight_total} as factor_weight_total
    from _sc_factor_long as fl
    cross join ({objectives}) as o
    """

    groups = """
    select account_id, as_of_date, objective, factor_group,
        max(group_weight) as group_weight,
        sum(factor_weight) filter (where factor_score is not null) as factor_weight_available,
        sum(factor_weight * factor_score) filter (where factor_score is not null)
            / sum(factor_weight) filter (where factor_score is not null) as group_score
    from _sc_weighted
    where group_weight > 0
    group by account_id, as_of_date, objective, factor_group
    """

    groups_shared = """
    select *,
        case when factor_weight_available > 0
            then group_weight / sum(group_weight) filter (where factor_weight_available > 0)
                over (partition by account_id, as_of_date, objective)
            else 0.0 end as group_share
    from _sc_groups
    """

    factors = """
    select w.account_id, w.as_of_date, w.objective, w.factor, w.factor_label, w.factor_group,
        w.owner, w.feature, w.raw_value, w.factor_score,
        w.group_weight / 100.0 * w.factor_weight / w.factor_weight_total as nominal_weight,
        case when w.factor_score is not null
            then g.group_share * w.factor_weight / g.factor_weight_available else 0.0 end as weight,
        case when w.factor_score is not null
            then g.group_share * w.factor_weight / g.factor_weight_available * w.factor_score
            else 0.0 end as contribution,
        case when w.factor_score is not null
            then g.group_share * w.factor_weight / g.factor_weight_available * (w.factor_score - 50.0)
            else 0.0 end as impact,
        g.group_score,
        case when w.factor_score is null then null
             when w.factor_score < 50 then w.reason_low else w.reason_high end as reason
    from _sc_weighted as w
    inner join _sc_groups_shared as g
        on w.account_id = g.account_id and w.as_of_date = g.as_of_date
        and w.objective = g.objective and w.factor_group = g.factor_group
    """

    freshness = (
        f"(case when f.days_since_last_signal is null then {num(conf.stale_floor)} "
        f"when f.days_since_last_signal <= {conf.fresh_days} then 1.0 "
        f"when f.days_since_last_signal >= {conf.stale_days} then {num(conf.stale_floor)} "
        f"else 1.0 - (1.0 - {num(conf.stale_floor)}) * (f.days_since_last_signal - {conf.fresh_days}) "
        f"/ {num(conf.stale_days - conf.fresh_days)} end)"
    )

    ranked_reasons = """
    select account_id, as_of_date, objective, reason, impact,
        row_number() over (
            partition by account_id, as_of_date, objective
            -- Risks first (most negative impact), then strengths (largest positive impact).
            order by case when impact < 0 then 0 else 1 end, abs(impact) desc, factor
        ) as reason_rank
    from _sc_factors
    where factor_score is not null and impact <> 0
    """

    base_scores = f"""
    select s.account_id, s.as_of_date, s.objective,
        f.segment, f.industry, f.owner, f.parent_account_id,
        coalesce(f.is_churned, false) as is_churned,
        f.churned_on,
        cast(f.mrr as double) * 12 as arr,
        s.computed_score, s.coverage,
        s.coverage * {freshness} as confidence,
        s.missing_factors,
        r.top_reasons
    from (
        select account_id, as_of_date, objective,
            case when count(factor_score) > 0 then round(sum(contribution), 2) end as computed_score,
            coalesce(sum(nominal_weight) filter (where factor_score is not null), 0.0) as coverage,
            string_agg(factor, ', ' order by factor) filter (where factor_score is null) as missing_factors
        from _sc_factors
        group by account_id, as_of_date, objective
    ) as s
    inner join {features_table} as f
        on f.account_id = s.account_id and f.as_of_date = s.as_of_date
    left join (
        select account_id, as_of_date, objective,
            string_agg(reason, '; ' order by reason_rank) as top_reasons
        from _sc_ranked_reasons
        where reason_rank <= 3
        group by account_id, as_of_date, objective
    ) as r
        on r.account_id = s.account_id and r.as_of_date = s.as_of_date and r.objective = s.objective
    """

    change_drivers = f"""
    select cur.account_id, cur.as_of_date, cur.objective,
        string_agg(
            cur.factor_label || ' ' || (case when cur.contribution - prev.contribution >= 0 then '+' else '' end)
                || cast(round(cur.contribution - prev.contribution, 1) as varchar),
            ', ' order by abs(cur.contribution - prev.contribution) desc, cur.factor
        ) filter (where abs(cur.contribution - prev.contribution) >= 0.05) as change_drivers
    from _sc_factors as cur
    inner join _sc_factors as prev
        on prev.account_id = cur.account_id and prev.objective = cur.objective and prev.factor = cur.factor
        and prev.as_of_date = cur.as_of_date - {window}
    group by cur.account_id, cur.as_of_date, cur.objective
    """

    scores = f"""
    select b.*,
        {grade_sql(card, 'b.computed_score')} as banded_grade,
        p.computed_score as previous_score,
        b.computed_score - p.computed_score as score_change,
        d.change_drivers
    from _sc_base_scores as b
    left join _sc_base_scores as p
        on p.account_id = b.account_id and p.objective = b.objective
        and p.as_of_date = b.as_of_date - {window}
    left join _sc_change_drivers as d
        on d.account_id = b.account_id and d.as_of_date = b.as_of_date and d.objective = b.objective
    where b.as_of_date between {date_lit(as_of_start)} and {date_lit(as_of_end)}
    """

    return [
        ("_sc_factor_long", factor_long),
        ("_sc_weighted", weighted),
        ("_sc_groups", groups),
        ("_sc_groups_shared", groups_shared),
        ("_sc_factors", factors),
        ("_sc_ranked_reasons", ranked_reasons),
        ("_sc_base_scores", base_scores),
        ("_sc_change_drivers", change_drivers),
        ("_sc_scores", scores),
    ]


def final_grade_sql(card: Scorecard) -> str:
    """Grade after churn status, human overrides and the confidence gate (columns of the final select)."""
    band_final = grade_sql(card, "final_score")
    return f"""(case
        when is_churned then 'churned'
        when override_action = 'set_grade' then override_grade
        when override_action in ('set_score', 'adjust_score') then {band_final}
        when computed_score is null or confidence < {num(card.confidence.min_for_grade)} then 'insufficient_data'
        else banded_grade end)"""
