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
    if factor.direction == "higher_is_better":
        return f"0 at or below {n.low:g}, 100 at or above {n.high:g}, linear between"
    return f"100 at or below {n.low:g}, 0 at or above {n.high:g}, linear between"


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
                f"| {factor.label} | {card.groups[factor.group]} | {factor.owner} | `{factor.feature}` | "
                f"{_norm_words(factor)} | {share:.0%} |"
            )
        lines.append("")
    if card.segment_overrides or card.industry_overrides:
        lines += [
            "## Segment and industry overrides",
            "",
            "An industry override wins over a segment override, which wins over the defaults above.",
            "",
        ]
        for kind, variants in (("Segment", card.segment_overrides), ("Industry", card.industry_overrides)):
            for value, variant in variants.items():
                lines.append(f"### {kind}: {value}")
                for objective, weights in variant.group_weights.items():
                    parts = ", ".join(f"{card.groups[g]} {w:g}%" for g, w in weights.items() if w > 0)
                    lines.append(f"- {card.objectives[objective].label} weights: {parts}")
                for factor, norm in variant.normalisation.items():
                    f = card.factor_map[factor]
                    lines.append(f"- {f.label}: {_norm_words(f.model_copy(update={'normalisation': norm}))}")
                lines.append("")
    lines += ["## Reasons shown to users", "", "| factor | when it hurts | when it helps |", "|---|---|---|"]
    for factor in card.factors:
        lines.append(f"| {factor.label} | {factor.explain.low} | {factor.explain.high} |")
    lines.append("")
    return "\n".join(lines)
