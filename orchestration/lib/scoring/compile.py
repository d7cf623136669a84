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
confidence = coverage x freshness of the account's newest signal; both are clamped to [0, 1].
"""

from __future__ import annotations

import datetime as dt
import re

from orchestration.lib.engines.dialect import DUCKDB, Dialect, quote_literal
from orchestration.lib.scoring.scorecard import (
    CATEGORY_METHODS,
    Condition,
    Factor,
    Normalisation,
    Scorecard,
    fold_category,
)

# Placeholders ({value}, {abs_value}, {change}) and number agreement after them: "[s]" is "s"
# unless the value rounds to 1 ("{value} invoice[s]"), "[one|many]" picks a form
# ("{value} ticket[s] [is|are] open"); after {change}, the bracketed words are left out when the
# value held steady ("NPS {change}[ point| points]": "rose 3 points", "held steady").
_TEMPLATE_RE = re.compile(r"\{([a-z_]+)\}|\[([^\[\]|]*)(?:\|([^\[\]]*))?\]")
FACTOR_UNION_PART = 6  # branches per materialised part of the factor union on Spark


def lit(value: object) -> str:
    return quote_literal(str(value))


def num(value: float, d: Dialect = DUCKDB) -> str:
    return d.float(value)


def date_lit(value: dt.date) -> str:
    return f"cast('{value.isoformat()}' as date)"


_TRUE_TEXT = ("true", "t", "1", "yes", "y")
_FALSE_TEXT = ("false", "f", "0", "no", "n")


def folded_text(expr: str, d: Dialect = DUCKDB) -> str:
    """A value as the text categories are matched on: trimmed, lower case."""
    return f"lower(trim(cast({expr} as {d.string_type})))"


def boolean_sql(expr: str, d: Dialect = DUCKDB) -> str:
    """true / false / NULL from booleans, 0/1 or yes/no text (anything else: NULL)."""
    text = folded_text(expr, d)
    return (
        f"(case when {text} in ({', '.join(lit(v) for v in _TRUE_TEXT)}) then true "
        f"when {text} in ({', '.join(lit(v) for v in _FALSE_TEXT)}) then false end)"
    )


def condition_sql(cond: Condition, d: Dialect = DUCKDB) -> str:
    """SQL for one override condition (a NULL feature never matches)."""
    col = cond.feature
    if cond.in_ is not None:
        flags = [v for v in cond.in_ if isinstance(v, bool)]
        texts = [fold_category(v) for v in cond.in_ if not isinstance(v, bool)]
        parts = []
        if texts:
            parts.append(f"{folded_text(col, d)} in ({', '.join(lit(v) for v in texts)})")
        for flag in flags:
            parts.append(f"{boolean_sql(col, d)} = {'true' if flag else 'false'}")
        return "(" + " or ".join(parts) + ")"
    parts = []
    if cond.min is not None:
        parts.append(f"cast({col} as {d.float_type}) >= {num(cond.min, d)}")
    if cond.max is not None:
        parts.append(f"cast({col} as {d.float_type}) < {num(cond.max, d)}")
    return "(" + " and ".join(parts) + ")"


def _variant_case(card: Scorecard, pick, default: str, d: Dialect = DUCKDB) -> str:
    """CASE over the overrides in precedence order (`overrides`, then industry, then segment
    overrides), then the default. `pick(variant)` returns the SQL for that variant or None
    when it does not override."""
    whens = []
    for _where, conditions, variant in card.variants():
        value = pick(variant)
        if value is not None:
            cond = " and ".join(condition_sql(c, d) for c in conditions)
            whens.append(f"when {cond} then {value}")
    if not whens:
        return default
    return f"(case {' '.join(whens)} else {default} end)"


def override_columns(card: Scorecard) -> list[str]:
    """Feature columns the overrides' conditions read (besides segment and industry)."""
    cols: list[str] = []
    for o in card.overrides:
        for c in o.conditions:
            if c.feature not in ("segment", "industry") and c.feature not in cols:
                cols.append(c.feature)
    return cols


def _format_value(expr: str, unit: str, d: Dialect = DUCKDB) -> str:
    """SQL text for a raw value, in words a CS leader reads."""
    rounded = f"cast(cast({d.round(expr, 0)} as bigint) as {d.string_type})"
    if unit == "pct":
        return f"{rounded} || '%'"
    if unit == "ratio":
        return f"cast(cast({d.round(f'{expr} * 100', 0)} as bigint) as {d.string_type}) || '%'"
    if unit == "currency":
        return f"'$' || {rounded}"
    if unit in ("score", "number", "hours"):
        return d.round_text(expr, 1)
    return rounded  # count, days


def _reason_sql(
    template: str,
    unit: str,
    x: str = "raw_value",
    d: Dialect = DUCKDB,
    *,
    text: str | None = None,
    bin_words: str | None = None,
) -> str:
    """A reason in words. `text`: SQL for the value as text (categories, booleans), used for
    {value}; `bin_words`: SQL naming the bin or category the value fell in, for {bin}."""
    parts: list[str] = []
    pos = 0
    last: str | None = None  # the placeholder an inflection agrees with
    for match in _TEMPLATE_RE.finditer(template):
        if match.start() > pos:
            parts.append(lit(template[pos : match.start()]))
        name, one, many = match.group(1), match.group(2), match.group(3)
        pos = match.end()
        if name is None:  # [s] or [one|many]
            if last is None:  # brackets before any placeholder: plain text
                parts.append(lit(match.group(0)))
                continue
            singular, plural = ("", one) if many is None else (one, many)
            if text is not None or last == "bin":  # a category or a bin has no count to agree with
                parts.append(lit(plural))
                continue
            rounded = d.round(x, 0)
            steady = f"when {rounded} = 0 then '' " if last == "change" else ""
            parts.append(
                f"(case {steady}when abs({rounded}) = 1 then {lit(singular)} else {lit(plural)} end)"
            )
            continue
        last = name
        if name == "bin":
            parts.append(bin_words if bin_words is not None else _format_value(x, unit, d))
        elif text is not None:
            parts.append(text)
        elif name == "value":
            parts.append(_format_value(x, unit, d))
        elif name == "abs_value":
            parts.append(_format_value(f"abs({x})", unit, d))
        else:  # change: rose 12% / fell 42% / held steady
            amount = _format_value(f"abs({x})", unit, d)
            parts.append(
                f"(case when {d.round(x, 0)} > 0 then 'rose ' || {amount} "
                f"when {d.round(x, 0)} < 0 then 'fell ' || {amount} else 'held steady' end)"
            )
    if pos < len(template):
        parts.append(lit(template[pos:]))
    return " || ".join(parts) if parts else "''"


def _edge_text(x: float) -> str:
    return f"{x:g}"


def bin_labels(norm: Normalisation) -> list[str]:
    """Words for each bin of a bins normalisation: below 2, 2 to 5, 5 or more."""
    edges = norm.edges or []
    if not edges:
        return ["any value"]
    words = [f"below {_edge_text(edges[0])}"]
    words += [f"{_edge_text(a)} to {_edge_text(b)}" for a, b in zip(edges, edges[1:], strict=False)]
    words.append(f"{_edge_text(edges[-1])} or more")
    return words


def _norm_score_sql(norm: Normalisation, factor: Factor, x: str, d: Dialect) -> str:
    """Factor score of a non-NULL value under one normalisation (percentile excepted)."""
    if norm.method == "thresholds":
        low, high = num(norm.low, d), num(norm.high, d)
        if factor.direction == "higher_is_better":
            frac = f"({x} - {low}) / ({high} - {low})"
        else:
            frac = f"({high} - {x}) / ({high} - {low})"
        return f"100.0 * greatest(0.0, least(1.0, {frac}))"
    if norm.method == "bins":
        edges, scores = norm.edges or [], norm.scores
        whens = " ".join(
            f"when {x} < {num(e, d)} then {num(s, d)}" for e, s in zip(edges, scores, strict=False)
        )
        return f"(case {whens} else {num(scores[-1], d)} end)" if whens else num(scores[-1], d)
    if norm.method == "categories":
        whens = " ".join(
            f"when {x} = {lit(fold_category(k))} then {num(s, d)}" for k, s in norm.scores.items()
        )
        return f"(case {whens} else {num(norm.other, d)} end)"
    if norm.method == "boolean":
        return f"(case when {x} then {num(norm.if_true, d)} else {num(norm.if_false, d)} end)"
    raise ValueError(f"no SQL for method {norm.method!r}")


def _norm_bin_sql(norm: Normalisation, x: str, d: Dialect) -> str:
    """Words for the bin / category a non-NULL value fell in."""
    if norm.method == "bins":
        labels = bin_labels(norm)
        whens = " ".join(
            f"when {x} < {num(e, d)} then {lit(w)}" for e, w in zip(norm.edges or [], labels, strict=False)
        )
        return f"(case {whens} else {lit(labels[-1])} end)" if whens else lit(labels[-1])
    if norm.method == "categories":
        whens = " ".join(f"when {x} = {lit(fold_category(k))} then {lit(str(k))}" for k in norm.scores)
        return f"(case {whens} else 'another value' end)"
    if norm.method == "boolean":
        return f"(case when {x} then 'yes' else 'no' end)"
    return _format_value(x, "number", d)


def raw_sql(factor: Factor, d: Dialect = DUCKDB) -> str:
    """The feature as the factor reads it: folded text (categories), boolean, or a float."""
    method = factor.normalisation.method
    if method == "categories":
        return folded_text(factor.feature, d)
    if method == "boolean":
        return boolean_sql(factor.feature, d)
    return f"cast({factor.feature} as {d.float_type})"


def _percentile_sql(norm: Normalisation, factor: Factor, x: str) -> str:
    """Factor score of a non-NULL value: its percentile among its peers on the same date."""
    peer = {"all": "", "segment": ", segment", "industry": ", industry"}[norm.peer_group]
    window = f"over (partition by as_of_date{peer}, ({x} is null) order by {x})"
    # Mid-rank: tied values share the average of their lowest and highest percentile, so a
    # peer group where everyone ties scores 50, not 0.
    count = f"count({x}) over (partition by as_of_date{peer})"
    rank = f"(50.0 * percent_rank() {window} + 50.0 * (cume_dist() {window} * {count} - 1) / ({count} - 1))"
    if factor.direction == "lower_is_better":
        rank = f"(100.0 - {rank})"
    # A lone peer has no one to rank against: neutral 50.
    return f"(case when {count} = 1 then 50.0 else {rank} end)"


def _factor_score_sql(card: Scorecard, factor: Factor, x: str = "raw_value", d: Dialect = DUCKDB) -> str:
    norm = factor.normalisation

    def with_missing(n: Normalisation) -> str:
        # An override's own `missing` scores a missing value of the accounts it covers (a learned
        # card's per-level bins each have a missing bin); without one, the factor's applies.
        value = n.missing if n.missing is not None else norm.missing
        missing = num(value, d) if value is not None else "null"
        scored = (
            _percentile_sql(n, factor, x) if n.method == "percentile" else _norm_score_sql(n, factor, x, d)
        )
        return f"(case when {x} is null then {missing} else {scored} end)"

    def pick(variant):
        # A percentile override ranks the accounts it covers among its own peer group (all the
        # accounts of that group on the date, covered or not).
        override: Normalisation | None = variant.normalisation.get(factor.name)
        return with_missing(override) if override is not None else None

    return _variant_case(card, pick, with_missing(norm), d)


def _factor_bin_sql(card: Scorecard, factor: Factor, x: str, d: Dialect = DUCKDB) -> str:
    norm = factor.normalisation

    def pick(variant):
        override: Normalisation | None = variant.normalisation.get(factor.name)
        return _norm_bin_sql(override, x, d) if override is not None else None

    return f"(case when {x} is null then 'not set' else {_variant_case(card, pick, _norm_bin_sql(norm, x, d), d)} end)"


def grade_sql(card: Scorecard, score: str, d: Dialect = DUCKDB) -> str:
    whens = [f"when {score} >= {num(b.min, d)} then {lit(b.grade)}" for b in reversed(card.bands[1:])]
    return f"(case when {score} is null then null {' '.join(whens)} else {lit(card.bands[0].grade)} end)"


def _objective_plan(card: Scorecard, objective: str) -> tuple[list[str], list[Factor]]:
    """Groups that can carry weight for the objective (by default or in any override), and their factors."""
    default = card.objectives[objective].group_weights
    variants = [*card.segment_overrides.values(), *card.industry_overrides.values()]
    groups = [
        g
        for g in card.groups
        if default.get(g, 0) > 0 or any(v.group_weights.get(objective, {}).get(g, 0) > 0 for v in variants)
    ]
    # A factor weighted 0 for this objective (a learned card keeps the factors other objectives
    # use) is left out of it entirely: no weight, no rows, no reasons.
    return groups, [f for f in card.factors if f.group in groups and card.factor_weight(objective, f) > 0]


def _group_weight_expr(card: Scorecard, objective: str, group: str, d: Dialect = DUCKDB) -> str:
    def pick(variant):
        weights = variant.group_weights.get(objective)
        return num(weights.get(group, 0.0), d) if weights is not None else None

    return _variant_case(card, pick, num(card.objectives[objective].group_weights.get(group, 0.0), d), d)


def _clamp01(expr: str, d: Dialect = DUCKDB) -> str:
    return f"least(greatest({expr}, {num(0.0, d)}), {num(1.0, d)})"


def _sum(terms: list[str]) -> str:
    return "(" + " + ".join(terms) + ")" if terms else "0.0"


def compile_scoring(
    card: Scorecard,
    features_table: str,
    as_of_start: dt.date,
    as_of_end: dt.date,
    d: Dialect = DUCKDB,
    accounts: tuple[str | None, str | None] = (None, None),
) -> list[tuple[str, str]]:
    """(temp table name, select) pairs to run in order.

    `accounts` = (first, stop) limits the scoring to account ids in [first, stop) (either end
    open when None): long runs are scored in slices of accounts so memory stays bounded.

    Factor scores, weights and overall scores are computed wide (one row per account and date,
    a column per factor) in one pass; the long form with reasons is built only for the requested
    dates and their comparison dates (as_of - change_window_days), which are scored too so every
    requested date has a comparison point. The caller keeps [as_of_start, as_of_end].
    """
    window = card.change_window_days
    shift = dt.timedelta(days=window)
    start, end = date_lit(as_of_start), date_lit(as_of_end)
    dates = (
        f"(as_of_date between {start} and {end} "
        f"or as_of_date between {date_lit(as_of_start - shift)} and {date_lit(as_of_end - shift)})"
    )
    first, stop = accounts
    if first is not None:
        dates += f" and account_id >= {lit(first)}"
    if stop is not None:
        dates += f" and account_id < {lit(stop)}"
    conf = card.confidence
    factors = card.factors
    plans = {o: _objective_plan(card, o) for o in card.objectives}

    raw = ",\n            ".join(
        [f"{raw_sql(f, d)} as raw__{f.name}" for f in factors]
        + [
            f"cast({f.feature} as {d.string_type}) as txt__{f.name}"
            for f in factors
            if f.normalisation.method in CATEGORY_METHODS
        ]
        + override_columns(card)
    )
    scored = ",\n        ".join(
        f"{_factor_score_sql(card, f, 'raw__' + f.name, d)} as s__{f.name}" for f in factors
    )
    wide = f"""
    select *,
        {scored}
    from (
        select account_id, as_of_date, segment, industry, owner, parent_account_id, is_churned, churned_on,
            mrr, days_since_last_signal,
            {raw}
        from {features_table}
        where {dates}
    ) as base
    """

    # Weights, stage by stage: group weights and available factor weight, then group scores and the
    # total available group weight, then each factor's effective and nominal weight, then the score.
    b1, b2, b3, b4 = [], [], [], []
    for o, (groups, fs) in plans.items():
        for g in groups:
            members = [f for f in fs if f.group == g]
            b1.append(f"{_group_weight_expr(card, o, g, d)} as gw__{o}__{g}")
            b1.append(
                f"{_sum([f'(case when s__{f.name} is not null then {num(card.factor_weight(o, f), d)} else 0.0 end)' for f in members])} as fw__{o}__{g}"
            )
            b1.append(
                f"{_sum([f'coalesce({num(card.factor_weight(o, f), d)} * s__{f.name}, 0.0)' for f in members])} as wsum__{o}__{g}"
            )
        b2.append(
            f"{_sum([f'(case when fw__{o}__{g} > 0 then gw__{o}__{g} else 0.0 end)' for g in groups])} as tot__{o}"
        )
        for g in groups:
            b2.append(f"(case when fw__{o}__{g} > 0 then wsum__{o}__{g} / fw__{o}__{g} end) as gs__{o}__{g}")
        for f in fs:
            w = num(card.factor_weight(o, f), d)
            nominal_total = num(sum(card.factor_weight(o, m) for m in fs if m.group == f.group), d)
            b3.append(
                f"(case when s__{f.name} is not null and tot__{o} > 0 "
                f"then gw__{o}__{f.group} / tot__{o} * {w} / fw__{o}__{f.group} else 0.0 end) as w__{o}__{f.name}"
            )
            b3.append(f"gw__{o}__{f.group} / 100.0 * {w} / {nominal_total} as nw__{o}__{f.name}")
        b4.append(
            f"(case when tot__{o} > 0 then {d.round(_sum([f'w__{o}__{f.name} * coalesce(s__{f.name}, 0.0)' for f in fs]), 2)} end) as score__{o}"
        )
        # Nominal weights are fractions that can add up to 1.0000000000000002 in floating point:
        # coverage (and so confidence) is clamped to [0, 1] where it is computed.
        coverage = _sum(
            # Coverage is about data: a factor scored by its `missing` rule still counts as missing.
            [f"(case when raw__{f.name} is not null then nw__{o}__{f.name} else 0.0 end)" for f in fs]
        )
        b4.append(f"{_clamp01(coverage, d)} as cov__{o}")
        b4.append(
            "nullif(concat_ws(', ', "
            + ", ".join(f"(case when raw__{f.name} is null then {lit(f.name)} end)" for f in fs)
            + f"), '') as missing__{o}"
        )
    wide_scores = f"""
    with {d.cte("b1", f"select *, {', '.join(b1)} from _sc_wide")},
    {d.cte("b2", f"select *, {', '.join(b2)} from b1")},
    {d.cte("b3", f"select *, {', '.join(b3)} from b2")}
    select *, {", ".join(b4)} from b3
    """

    branches = []
    for o, (_groups, fs) in plans.items():
        for f in fs:
            s_col, w_col = f"s__{f.name}", f"w__{o}__{f.name}"
            x = "raw__" + f.name
            is_text = f.normalisation.method in CATEGORY_METHODS
            words = {
                "text": f"coalesce(txt__{f.name}, 'not set')" if is_text else None,
                "bin_words": _factor_bin_sql(card, f, x, d)
                if f.normalisation.method in ("bins", *CATEGORY_METHODS)
                else None,
            }
            zero = (
                f"when {x} = 0 then {_reason_sql(f.explain.zero, f.explain.unit, x, d, **words)} "
                if f.explain.zero and not is_text
                else ""
            )
            reason = (
                f"case when {s_col} is null or as_of_date < {start} then null {zero}"
                f"when {s_col} < 50 then {_reason_sql(f.explain.low, f.explain.unit, x, d, **words)} "
                f"else {_reason_sql(f.explain.high, f.explain.unit, x, d, **words)} end"
            )
            if f.normalisation.method == "categories":
                raw_value = f"cast(null as {d.float_type})"
            elif f.normalisation.method == "boolean":
                raw_value = f"(case when {x} then 1.0 when not {x} then 0.0 end)"
            else:
                raw_value = x
            raw_text = f"txt__{f.name}" if is_text else f"cast(null as {d.string_type})"
            branches.append(
                f"""
    select account_id, as_of_date, {lit(o)} as objective, {lit(f.name)} as factor,
        {lit(f.label)} as factor_label, {lit(f.group)} as factor_group, {lit(f.owner)} as owner,
        {lit(f.feature)} as feature, {raw_value} as raw_value, {raw_text} as raw_text, {s_col} as factor_score,
        nw__{o}__{f.name} as nominal_weight, {w_col} as weight,
        {w_col} * coalesce({s_col}, 0.0) as contribution,
        {w_col} * (coalesce({s_col}, 50.0) - 50.0) as impact,
        gs__{o}__{f.group} as group_score,
        {reason} as reason
    from _sc_wide_scores
    where gw__{o}__{f.group} > 0"""
            )
    # Spark's analyzer is quadratic in the branches of one UNION over the same relation (a minute
    # for a hundred factor rows): there the union is built from materialised parts.
    parts: list[tuple[str, str]] = []
    if d.name == "spark" and len(branches) > FACTOR_UNION_PART:
        for i in range(0, len(branches), FACTOR_UNION_PART):
            name = f"_sc_factors_part_{i // FACTOR_UNION_PART}"
            parts.append((name, "\n    union all".join(branches[i : i + FACTOR_UNION_PART])))
        factors_long = "\n    union all\n".join(f"    select * from {name}" for name, _ in parts)
    else:
        factors_long = "\n    union all".join(branches)

    freshness = (
        f"(case when days_since_last_signal is null then {num(conf.stale_floor, d)} "
        f"when days_since_last_signal <= {conf.fresh_days} then {num(1.0, d)} "
        f"when days_since_last_signal >= {conf.stale_days} then {num(conf.stale_floor, d)} "
        f"else {num(1.0, d)} - ({num(1.0, d)} - {num(conf.stale_floor, d)}) * (days_since_last_signal - {conf.fresh_days}) "
        f"/ {num(conf.stale_days - conf.fresh_days, d)} end)"
    )
    per_objective = "\n        union all\n".join(
        f"""        select account_id, as_of_date, {lit(o)} as objective, segment, industry, owner, parent_account_id,
            coalesce(is_churned, false) as is_churned, churned_on, cast(mrr as {d.float_type}) * 12 as arr,
            score__{o} as computed_score, cov__{o} as coverage, {_clamp01(f"cov__{o} * {freshness}", d)} as confidence,
            missing__{o} as missing_factors, {_probability_sql(card, o, f"score__{o}", d)} as churn_probability
        from _sc_wide_scores"""
        for o in plans
    )

    ranked_reasons = f"""
    select account_id, as_of_date, objective, reason, impact,
        row_number() over (
            partition by account_id, as_of_date, objective
            -- Risks first (most negative impact), then strengths (largest positive impact).
            -- Rounded: float noise must not decide between equal impacts (nor differ by engine).
            order by case when impact < 0 then 0 else 1 end, {d.round("abs(impact)", 6)} desc, factor
        ) as reason_rank
    from _sc_factors
    where factor_score is not null and impact <> 0 and as_of_date >= {start}
    """

    base_scores = f"""
    select s.*, r.top_reasons
    from (
{per_objective}
    ) as s
    left join (
        select account_id, as_of_date, objective,
            {d.string_agg("reason", "'; '", "reason_rank")} as top_reasons
        from _sc_ranked_reasons
        where reason_rank <= 3
        group by account_id, as_of_date, objective
    ) as r
        on r.account_id = s.account_id and r.as_of_date = s.as_of_date and r.objective = s.objective
    """

    # NULL (skipped by the aggregate) below the 0.05 threshold: FILTER is not portable.
    driver = (
        "case when abs(cur.contribution - prev.contribution) >= 0.05 then "
        "cur.factor_label || ' ' || (case when cur.contribution - prev.contribution >= 0 then '+' else '' end)"
        f" || {d.round_text('cur.contribution - prev.contribution', 1)} end"
    )
    change_drivers = f"""
    select cur.account_id, cur.as_of_date, cur.objective,
        {d.string_agg(driver, "', '", d.round("abs(cur.contribution - prev.contribution)", 6) + " desc, cur.factor")} as change_drivers
    from _sc_factors as cur
    inner join _sc_factors as prev
        on prev.account_id = cur.account_id and prev.objective = cur.objective and prev.factor = cur.factor
        and prev.as_of_date = {d.add_days("cur.as_of_date", -window)}
    where cur.as_of_date between {start} and {end}
    group by cur.account_id, cur.as_of_date, cur.objective
    """

    scores = f"""
    select b.*,
        {grade_sql(card, "b.computed_score", d)} as banded_grade,
        p.computed_score as previous_score,
        b.computed_score - p.computed_score as score_change,
        d.change_drivers
    from _sc_base_scores as b
    left join _sc_base_scores as p
        on p.account_id = b.account_id and p.objective = b.objective
        and p.as_of_date = {d.add_days("b.as_of_date", -window)}
    left join _sc_change_drivers as d
        on d.account_id = b.account_id and d.as_of_date = b.as_of_date and d.objective = b.objective
    where b.as_of_date between {start} and {end}
    """

    return [
        ("_sc_wide", wide),
        ("_sc_wide_scores", wide_scores),
        *parts,
        ("_sc_factors", factors_long),
        ("_sc_ranked_reasons", ranked_reasons),
        ("_sc_base_scores", base_scores),
        ("_sc_change_drivers", change_drivers),
        ("_sc_scores", scores),
    ]


def _probability_sql(card: Scorecard, objective: str, score: str, d: Dialect = DUCKDB) -> str:
    """Calibrated churn probability of a computed score (NULL without a calibration for this
    objective, and for accounts already churned)."""
    cal = card.calibration
    if cal is None or cal.objective != objective:
        return f"cast(null as {d.float_type})"
    # Clamped: exp() of a large argument is an error on some engines.
    z = f"greatest(-50.0, least(50.0, {num(cal.intercept, d)} + {num(cal.slope, d)} * {score}))"
    return (
        f"(case when coalesce(is_churned, false) or {score} is null then null "
        f"else 1.0 / (1.0 + exp(-{z})) end)"
    )


def final_grade_sql(card: Scorecard, d: Dialect = DUCKDB) -> str:
    """Grade after churn status, human overrides and the confidence gate (columns of the final select)."""
    band_final = grade_sql(card, "final_score", d)
    return f"""(case
        when is_churned then 'churned'
        when override_action = 'set_grade' then override_grade
        when override_action in ('set_score', 'adjust_score') then {band_final}
        when computed_score is null or confidence < {num(card.confidence.min_for_grade, d)} then 'insufficient_data'
        else banded_grade end)"""
