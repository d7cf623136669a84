"""SQL building blocks for the generator: deterministic pseudo-random draws from hashes, picks from
word lists, risk signals, planted PII and nulls."""

from __future__ import annotations

from orchestration.lib.demo.params import FIRST_NAMES, FLAW_RATES, LAST_NAMES
from orchestration.lib.engines.dialect import quote_literal

# Hash tags: one per random draw, so that draws are independent.
_T = {
    name: i
    for i, name in enumerate(
        """fate fate2 seats seats2 adopt act industry country owner created created2 sub parent name1
        name2 name3 region churn churn2 decl strength event ratio dip dip2 dip3 trickle trickle2 slope
        disc plan newday optnull1 optnull2 nusers nusers2 noise noise2 user feat nfeat qty qty2 hour hour2
        late late2 recv tick tickpri tickres tickres2 ticksent tickcsat tickcsat2 tsubj topen tmid
        tclose pii pii2 pii3 piifirst pii_last tickstat waveoff invite respond respond2 score score2
        stext ssent rtime csatoff paid paid2 paid3 paidday void notegap noteoff notejit rating rating2
        nsent ntext nfollow nauthor social socialch socsent soctext osreason tickhour tickhour2 dupu
        dupt badts badts2 badpri pricase badamt nullacc unkacc unkacc2 respid channel autorenew storage storage2""".split()
    )
}


def _list(values: list[str]) -> str:
    return "[" + ", ".join(quote_literal(v) for v in values) + "]"


def _pick(values: list[str], u: str) -> str:
    """SQL: an element of `values` chosen by the uniform draw `u`."""
    return f"{_list(values)}[1 + least(floor(({u}) * {len(values)})::INT, {len(values) - 1})]"


class _Sql:
    """Builds the hash-based random expressions for one seed."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def u(self, tag: str, *ids: str) -> str:
        """Uniform in [0, 1) from hash(seed, tag, ids...)."""
        args = ", ".join([str(self.seed), str(_T[tag]), *ids])
        # hash() combines its arguments almost linearly (draws for two tags of the same id are
        # strongly correlated): hashing the combined hash again mixes it properly.
        return f"((hash(hash({args})) >> 11)::DOUBLE / 9007199254740992.0)"

    def h(self, tag: str, *ids: str) -> str:
        """A well-mixed 64-bit hash; `_bits` cuts three independent uniforms out of it."""
        args = ", ".join([str(self.seed), str(_T[tag]), *ids])
        return f"hash(hash({args}))"

    def n(self, tag: str, tag2: str, *ids: str) -> str:
        """Standard normal (Box-Muller) from two hash draws."""
        return f"(sqrt(-2 * ln(1 - {self.u(tag, *ids)})) * cos(2 * pi() * {self.u(tag2, *ids)}))"


def _bits(h: str, k: int) -> str:
    """SQL: uniform in [0, 1) from bits 21k .. 21k+20 of the hash `h` (k = 0, 1, 2)."""
    return f"((({h}) >> {21 * k}) & 2097151)::DOUBLE / 2097152.0"


def _risk_usage(d: str) -> str:
    """SQL: usage/payment risk in [0, 1] of account row `ac` on day index `d` (planted signal)."""
    return f"""greatest(
        case when ac.fate = 'churn' then ac.strength
             * least(1.0, greatest(0.0, ({d} - (ac.churn_d - ac.decl))::DOUBLE / ac.decl)) else 0 end,
        case when ac.fate = 'downgrade' then
             case when {d} >= ac.event_d then 0.25
                  else 0.45 * least(1.0, greatest(0.0, ({d} - (ac.event_d - 75))::DOUBLE / 75)) end
             else 0 end,
        case when ac.dip_s is not null and {d} between ac.dip_s and ac.dip_s + ac.dip_len
             then ac.dip_depth else 0 end)"""


def _risk_text(d: str) -> str:
    """SQL: text negativity in [0, 1]: the usage risk, or 0.9 for silent sufferers."""
    return f"greatest({_risk_usage(d)}, case when ac.fate = 'silent' then 0.9 else 0 end)"


def _sentiment(u: str, risk: str) -> str:
    """SQL: 'neg' / 'pos' / 'neu' drawn from the text risk."""
    p_neg = f"(0.05 + 0.85 * {risk})"
    p_pos = f"(0.35 * (1 - {risk}))"
    return f"case when {u} < {p_neg} then 'neg' when {u} < {p_neg} + {p_pos} then 'pos' else 'neu' end"


def _by_sentiment(sent: str, lists: dict[str, list[str]], u: str) -> str:
    whens = " ".join(f"when {quote_literal(k)} then {_pick(v, u)}" for k, v in lists.items())
    fallback = _pick(lists["neu"], u)
    return f"(case {sent} {whens} else {fallback} end)"


def _pii(r: _Sql, *ids: str) -> str:
    """SQL: '' or (for ~1% of texts) a sentence with an e-mail address or a phone number."""
    first = _pick(FIRST_NAMES, r.u("piifirst", *ids))
    last = _pick(LAST_NAMES, r.u("pii_last", *ids))
    email = f"{first} || '.' || {last} || '@' || ac.domain"
    phone = f"'+1 555 01' || lpad((floor({r.u('pii3', *ids)} * 100))::INT::VARCHAR, 2, '0')"
    return f"""(case when {r.u("pii", *ids)} < {FLAW_RATES["pii_text"]} then
        case when {r.u("pii2", *ids)} < 0.6 then ' Contact me at ' || {email} || '.'
             else ' Call me on ' || {phone} || '.' end
        else '' end)"""


def _optnull(r: _Sql, expr: str, col: str, *ids: str) -> str:
    """SQL: `expr`, or null for ~3% of rows (planted nulls in an optional column)."""
    return (
        f"(case when {r.u('optnull1', *ids, quote_literal(col))} < {FLAW_RATES['optional_null']} "
        f"then null else {expr} end)"
    )
