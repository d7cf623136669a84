"""Render a scorecard as a page a customer-success leader can review without reading YAML."""

from __future__ import annotations

from orchestration.lib.scoring.scorecard import Factor, Scorecard


def _norm_words(factor: Factor) -> str:
    n = factor.normalisation
    if n.method == "percentile":
        peers = {
            "all": "all accounts",
            "segment": "accounts in the same segment",
            "industry": "accounts in the same industry",
        }[n.peer_group]
        best = "highest" if factor.direction == "higher_is_better" else "lowest"
        return f"percentile among {peers} on the same day ({best} value scores 100)"
    missing = f"; missing: {n.missing:g}" if n.missing is not None else ""
    if n.method == "bins":
        from orchestration.lib.scoring.compile import bin_labels

        return "; ".join(f"{w}: {s:g}" for w, s in zip(bin_labels(n), n.scores, strict=True)) + missing
    if n.method == "categories":
        return (
            "; ".join(f"{k}: {s:g}" for k, s in n.scores.items())
            + f"; any other value: {n.other:g}"
            + missing
        )
    if n.method == "boolean":
        return f"yes: {n.if_true:g}; no: {n.if_false:g}" + missing
    if factor.direction == "higher_is_better":
        return f"0 at or below {n.low:g}, 100 at or above {n.high:g}, linear between" + missing
    return f"100 at or below {n.low:g}, 0 at or above {n.high:g}, linear between" + missing


def _condition_words(card: Scorecard, conditions) -> str:
    parts = []
    for c in conditions:
        if c.in_ is not None:
            parts.append(
                f"`{c.feature}` is "
                + " or ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in c.in_)
            )
        else:
            lo = f"at least {c.min:g}" if c.min is not None else ""
            hi = f"below {c.max:g}" if c.max is not None else ""
            parts.append(f"`{c.feature}` " + " and ".join(p for p in (lo, hi) if p))
    return " and ".join(parts)


def render_markdown(card: Scorecard) -> str:
    lines = [
        f"# Scorecard `{card.name}` version {card.version}",
        "",
        card.description.strip(),
        "",
        f"- Owner: {card.owner}",
        f"- Content hash: `{card.content_hash[:16]}`",
        f"- Score changes are explained against the score {card.change_window_days} days earlier.",
        "",
        "## Grades",
        "",
        "| grade | score from | up to |",
        "|---|---|---|",
    ]
    for i, band in enumerate(card.bands):
        upper = f"{band.max:g} (inclusive)" if i == len(card.bands) - 1 else f"below {band.max:g}"
        lines.append(f"| {band.grade} | {band.min:g} | {upper} |")
    c = card.confidence
    lines += [
        "",
        "Special grades: `churned` (after the account's churn date, whatever the score) and "
        f"`insufficient_data` (confidence below {c.min_for_grade:g}). Confidence = share of the scorecard's "
        f"weight that had data x freshness; freshness is 1 when the account's newest signal is at most "
        f"{c.fresh_days} days old and falls to {c.stale_floor:g} at {c.stale_days} days.",
        "",
    ]
    for name, objective in card.objectives.items():
        lines += [
            f"## Objective: {objective.label} (`{name}`)",
            "",
            objective.description,
            "",
            "| group | weight |",
            "|---|---|",
        ]
        for group, weight in objective.group_weights.items():
            if weight > 0:
                lines.append(f"| {card.groups[group]} | {weight:g}% |")
        lines += [
            "",
            "| factor | group | owner | feature | scoring | weight in group |",
            "|---|---|---|---|---|---|",
        ]
        for factor in card.factors_in(name):
            in_group = [f for f in card.factors_in(name) if f.group == factor.group]
            total = sum(card.factor_weight(name, f) for f in in_group)
            share = card.factor_weight(name, factor) / total
            lines.append(
                f"| {factor.label} | {card.groups[factor.group]} | {factor.owner} | `{factor.feature}`"
                f"{' (optional: left out where the feature table has no such column)' if factor.optional else ''} | "
                f"{_norm_words(factor)} | {share:.0%} |"
            )
        lines.append("")
    if card.calibration is not None:
        cal = card.calibration
        what = (
            f"churn within {cal.horizon_days} days"
            if cal.horizon_days
            else "agreement with a concurrent churn flag (not a forecast)"
        )
        lines += [
            "## Churn probability",
            "",
            f"{card.objectives[cal.objective].label}: probability of {what} = "
            f"1 / (1 + exp(-({cal.intercept:g} + {cal.slope:g} x score))). Fitted on {cal.fitted_on or '-'}.",
            "",
        ]
    if card.overrides or card.segment_overrides or card.industry_overrides:
        lines += [
            "## Overrides",
            "",
            "The first matching entry wins: the conditional overrides in order, then an industry "
            "override, then a segment override, then the defaults above.",
            "",
        ]
        for where, conditions, variant in card.variants():
            lines.append(f"### {where}: when {_condition_words(card, conditions)}")
            for objective, weights in variant.group_weights.items():
                parts = ", ".join(f"{card.groups[g]} {w:g}%" for g, w in weights.items() if w > 0)
                lines.append(f"- {card.objectives[objective].label} weights: {parts}")
            for factor, norm in variant.normalisation.items():
                f = card.factor_map[factor]
                lines.append(f"- {f.label}: {_norm_words(f.model_copy(update={'normalisation': norm}))}")
            lines.append("")
    lines += ["## Reasons shown to users", "", "| factor | when it hurts | when it helps |", "|---|---|---|"]
    for factor in card.factors:
        at_zero = f" (at 0: {factor.explain.zero})" if factor.explain.zero else ""
        lines.append(f"| {factor.label} | {factor.explain.low}{at_zero} | {factor.explain.high} |")
    lines.append("")
    return "\n".join(lines)
