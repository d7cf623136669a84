"""Customer sentiment from free text, offline.

One small interface (`SentimentModel`: `model_version` and `score(texts) -> compounds in [-1, 1]`)
so a user can plug in their own model with `HEALTHSCORE_SENTIMENT_MODEL=module:Class`. The default
model is VADER with a B2B support lexicon layered on top (sentiment_lexicon.json), fed into a small
logistic regression over VADER's sub-scores and a bag of words (sentiment_weights.json, trained on
the training part of the labelled sentences only; `python -m orchestration.lib.sentiment train`
regenerates it).

    python -m orchestration.lib.sentiment evaluate        # held-out accuracy / ROC AUC per file
    python -m orchestration.lib.sentiment train           # refit sentiment_weights.json
    python -m orchestration.lib.sentiment bench --texts 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib
import json
import math
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from .engines import DUCKDB, Dialect, as_engine, create_table_sql
from .warehouse import quote_literal

HERE = Path(__file__).parent
LEXICON_PATH = HERE / "sentiment_lexicon.json"
WEIGHTS_PATH = HERE / "sentiment_weights.json"
MODEL_ENV = "HEALTHSCORE_SENTIMENT_MODEL"
LABELLED_ENV = "HEALTHSCORE_SENTIMENT_LABELLED_DIR"
DEFAULT_LABELLED_DIR = Path("/work/shared/data/sentiment_labelled_sentences")
LABELLED_FILES = {
    "amazon": "amazon_cells_labelled.txt",
    "yelp": "yelp_labelled.txt",
    "imdb": "imdb_labelled.txt",
}
# A sentence is held out when its SHA-256 (UTF-8, stripped) modulo HOLDOUT_MODULUS is 0:
# deterministic, independent of file order, and duplicates always land on the same side.
HOLDOUT_MODULUS = 5

# Labels on the published compound. VADER's own +-0.05 band is too narrow once a regression
# spreads scores; these were chosen on the demo fragments and the training split.
NEGATIVE_BELOW = -0.25
POSITIVE_ABOVE = 0.25
VERY_NEGATIVE_BELOW = -0.6
EXCERPT_CHARS = 160


@runtime_checkable
class SentimentModel(Protocol):
    """What the pipeline needs from a sentiment model."""

    model_version: str

    def score(self, texts: list[str]) -> list[float]:
        """One compound per text, in [-1, 1] (negative to positive)."""
        ...


def label_for(compound: float) -> str:
    if compound <= NEGATIVE_BELOW:
        return "negative"
    if compound >= POSITIVE_ABOVE:
        return "positive"
    return "neutral"


# --------------------------------------------------------------------------------------------
# personal data
# --------------------------------------------------------------------------------------------
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Digit runs with separators; masked when they hold 7+ digits and do not start with an ISO date.
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,}\d(?!\w)")
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}\b")


def _mask_phone(match: re.Match) -> str:
    text = match.group(0)
    if sum(ch.isdigit() for ch in text) < 7 or _DATE_LIKE.match(text.strip()):
        return text
    return "[phone]"


def mask_pii(text: str | None) -> str:
    """The text with e-mail addresses replaced by [email] and phone numbers by [phone]."""
    if not text:
        return text or ""
    return _PHONE.sub(_mask_phone, _EMAIL.sub("[email]", text))


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """A masked, single-line excerpt for explanations."""
    masked = " ".join(mask_pii(text).split())
    return masked if len(masked) <= limit else masked[: limit - 3].rstrip() + "..."


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------
def _load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


class VaderModel:
    """Plain VADER (the baseline)."""

    model_version = "vader-3.3.2"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def polarity(self, text: str) -> dict[str, float]:
        return self._analyzer.polarity_scores(text)

    def score(self, texts: list[str]) -> list[float]:
        return [self.polarity(t or "")["compound"] for t in texts]


class B2BLexiconModel(VaderModel):
    """VADER plus the B2B support lexicon: words override/extend VADER's, phrases become one token."""

    def __init__(self, lexicon_path: Path = LEXICON_PATH) -> None:
        super().__init__()
        lexicon = _load_json(lexicon_path)
        self._analyzer.lexicon.update({w.lower(): float(v) for w, v in lexicon["words"].items()})
        phrases = sorted(lexicon["phrases"].items(), key=lambda kv: -len(kv[0]))
        self._phrase_tokens = {}
        for phrase, valence in phrases:
            token = phrase.lower().replace(" ", "_")
            self._analyzer.lexicon[token] = float(valence)
            self._phrase_tokens[phrase.lower()] = token
        self._phrase_re = (
            re.compile(r"\b(" + "|".join(re.escape(p) for p, _ in phrases) + r")\b", re.IGNORECASE)
            if phrases
            else None
        )
        digest = hashlib.sha256(lexicon_path.read_bytes()).hexdigest()[:8]
        self.model_version = f"vader-3.3.2+b2b-{digest}"

    def polarity(self, text: str) -> dict[str, float]:
        if self._phrase_re is not None:
            text = self._phrase_re.sub(lambda m: self._phrase_tokens[m.group(1).lower()], text)
        return self._analyzer.polarity_scores(text)


_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


# Function words carry review-length and style, not sentiment: a unigram or bigram made only of
# them is no feature (the reviews taught "in a" and "for the" spurious weights).
STOP_WORDS = frozenset(
    """a an the and or but if of in on at to for from by with as is are was were be been it its this
    that these those i we you he she they me us our your my their them there here then than so up out
    into over about after before again all any some just also do does did have has had will would can
    could should one s""".split()
)


def tokens(text: str) -> list[str]:
    """Unigrams and bigrams of the lowercased text (the bag-of-words features), without the ones
    made only of stop words."""
    words = _TOKEN.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    return [g for g in grams if not all(w in STOP_WORDS for w in g.split(" "))]


VADER_FEATURES = ("compound", "pos", "neg", "neu")


class DefaultSentimentModel:
    """VADER + B2B lexicon, recalibrated by a logistic regression over its sub-scores and a bag of
    words. compound = tanh((logit - neutral logit) / 2): 2 * p(positive) - 1, re-centred so that a
    text with no sentiment evidence (VADER all-neutral, no known words) scores 0. Product reviews
    without sentiment words lean negative; support texts without them are neutral."""

    def __init__(self, weights_path: Path = WEIGHTS_PATH, lexicon_path: Path = LEXICON_PATH) -> None:
        self.lexicon_model = B2BLexiconModel(lexicon_path)
        weights = _load_json(weights_path)
        self._intercept = float(weights["intercept"])
        self._vader_coef = [float(weights["vader"][name]) for name in VADER_FEATURES]
        self._word_coef: dict[str, float] = {k: float(v) for k, v in weights["words"].items()}
        self._neutral_logit = self._intercept + self._vader_coef[VADER_FEATURES.index("neu")]
        digest = hashlib.sha256(weights_path.read_bytes() + lexicon_path.read_bytes()).hexdigest()[:8]
        self.model_version = f"vader-b2b-logreg-{digest}"

    def _logit(self, text: str) -> float:
        polarity = self.lexicon_model.polarity(text)
        z = self._intercept + sum(
            c * polarity[n] for c, n in zip(self._vader_coef, VADER_FEATURES, strict=True)
        )
        coef = self._word_coef
        # binary bag of words: each distinct token counts once
        z += sum(coef.get(t, 0.0) for t in set(tokens(text)))
        return z

    def score(self, texts: list[str]) -> list[float]:
        return [math.tanh((self._logit(t) - self._neutral_logit) / 2.0) if t else 0.0 for t in texts]


class CachedModel:
    """Scores each distinct text once (texts repeat a lot: templates, re-exports)."""

    def __init__(self, model: SentimentModel, max_entries: int = 500_000) -> None:
        self.model = model
        self.model_version = model.model_version
        self._cache: dict[str, float] = {}
        self._max = max_entries

    def score(self, texts: list[str]) -> list[float]:
        cache = self._cache
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            if len(cache) + len(missing) > self._max:
                cache.clear()
            cache.update(zip(missing, self.model.score(missing), strict=True))
        return [cache[t] for t in texts]


def load_model(spec: str | None = None) -> SentimentModel:
    """The configured model: `module:Class` from the argument or $HEALTHSCORE_SENTIMENT_MODEL,
    else the default. The class is instantiated without arguments."""
    spec = spec if spec is not None else os.environ.get(MODEL_ENV, "")
    if not spec:
        return DefaultSentimentModel()
    module_name, _, class_name = spec.partition(":")
    if not class_name:
        raise ValueError(f"{MODEL_ENV}={spec!r}: expected 'module:Class'")
    model = getattr(importlib.import_module(module_name), class_name)()
    if not isinstance(model, SentimentModel) or not isinstance(model.model_version, str):
        raise TypeError(f"{spec}: a sentiment model needs `model_version: str` and `score(texts)`")
    return model


# --------------------------------------------------------------------------------------------
# the warehouse: incremental scoring of every text in the staging views
# --------------------------------------------------------------------------------------------
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
) -> ScoringRun:
    """Score the texts whose (content hash, model version) is not scored yet, then rebuild
    sentiment.text_scores (one row per record) from the score cache.

    Texts stream from the warehouse in batches (orchestration/lib/engines.py, any engine):
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


# --------------------------------------------------------------------------------------------
# labelled sentences: loading, split, evaluation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sentence:
    text: str
    label: int

    @property
    def is_held_out(self) -> bool:
        return int(content_hash(self.text), 16) % HOLDOUT_MODULUS == 0


def labelled_dir() -> Path:
    return Path(os.environ.get(LABELLED_ENV) or DEFAULT_LABELLED_DIR)


def load_labelled(name: str, directory: Path | None = None) -> list[Sentence]:
    """One labelled file. Split on "\\n" only (two imdb sentences hold U+0085), no quote
    handling, and strip the spaces imdb puts before the tab."""
    path = (directory or labelled_dir()) / LABELLED_FILES[name]
    sentences = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        text, _, label = line.rpartition("\t")
        sentences.append(Sentence(text.strip(), int(label.strip())))
    return sentences


def roc_auc(scores: list[float], labels: list[int]) -> float:
    """ROC AUC by the rank-sum formula (ties count half)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y == 1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def accuracy(scores: list[float], labels: list[int], threshold: float = 0.05) -> float:
    """Share right when compound >= threshold means positive (neutral counts as negative)."""
    return sum((s >= threshold) == bool(y) for s, y in zip(scores, labels, strict=True)) / len(labels)


def evaluate(models: dict[str, SentimentModel], part: str = "held_out") -> list[dict]:
    """Accuracy and ROC AUC per labelled file and model, on the held-out part (or 'train', 'all')."""
    rows = []
    for name in LABELLED_FILES:
        sentences = [
            s for s in load_labelled(name)
            if part == "all" or s.is_held_out == (part == "held_out")
        ]  # fmt: skip
        labels = [s.label for s in sentences]
        for model_name, model in models.items():
            scores = model.score([s.text for s in sentences])
            rows.append(
                {
                    "file": name,
                    "part": part,
                    "sentences": len(sentences),
                    "model": model_name,
                    "accuracy": round(accuracy(scores, labels), 3),
                    "roc_auc": round(roc_auc(scores, labels), 3),
                }
            )
    return rows


# --------------------------------------------------------------------------------------------
# training (scikit-learn only here, never at scoring time)
# --------------------------------------------------------------------------------------------
def train(out: Path = WEIGHTS_PATH, min_df: int = 3, bow_scale: float = 0.5, seed: int = 0) -> dict:
    """Fit the logistic regression on the training part of all three files; write its weights."""
    import numpy as np
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    lexicon_model = B2BLexiconModel()
    train_set = [s for name in LABELLED_FILES for s in load_labelled(name) if not s.is_held_out]
    doc_tokens = [set(tokens(s.text)) for s in train_set]
    df: dict[str, int] = {}
    for toks in doc_tokens:
        for t in toks:
            df[t] = df.get(t, 0) + 1
    vocab = sorted(t for t, n in df.items() if n >= min_df)
    index = {t: i for i, t in enumerate(vocab)}
    rows, cols = [], []
    for r, toks in enumerate(doc_tokens):
        for t in toks:
            if t in index:
                rows.append(r)
                cols.append(index[t])
    # bow_scale < 1 penalises word weights more than the VADER terms: the words come from
    # product reviews, the VADER + B2B terms carry over to support text.
    bag = csr_matrix((np.full(len(rows), bow_scale), (rows, cols)), shape=(len(train_set), len(vocab)))
    polar = [lexicon_model.polarity(s.text) for s in train_set]
    vader = csr_matrix(np.array([[p[n] for n in VADER_FEATURES] for p in polar]))
    x = hstack([vader, bag]).tocsr()
    y = np.array([s.label for s in train_set])
    search = GridSearchCV(
        LogisticRegression(max_iter=5000),
        {"C": [0.1, 0.3, 1.0, 3.0]},
        scoring="roc_auc",
        cv=StratifiedKFold(5, shuffle=True, random_state=seed),
    )
    search.fit(x, y)
    fit = search.best_estimator_
    coef = fit.coef_[0]
    words = {
        t: round(float(coef[4 + i]) * bow_scale, 4)
        for t, i in index.items()
        if abs(coef[4 + i]) * bow_scale >= 0.01
    }
    weights = {
        "_comment": (
            "Logistic regression over VADER+B2B sub-scores and a binary bag of uni/bigrams (stop-word-only "
            "grams dropped, bag scaled by bow_scale), fit on the "
            "training part (sha256 % 5 != 0) of the labelled sentences. Regenerate: "
            "python -m orchestration.lib.sentiment train"
        ),
        "C": search.best_params_["C"],
        "min_df": min_df,
        "bow_scale": bow_scale,
        "cv_roc_auc": round(float(search.best_score_), 4),
        "train_sentences": len(train_set),
        "intercept": round(float(fit.intercept_[0]), 4),
        "vader": {n: round(float(c), 4) for n, c in zip(VADER_FEATURES, coef[:4], strict=True)},
        "words": dict(sorted(words.items())),
    }
    out.write_text(json.dumps(weights, indent=0, sort_keys=False) + "\n", encoding="utf-8")
    return weights


# --------------------------------------------------------------------------------------------
# benchmark
# --------------------------------------------------------------------------------------------
def _bench_texts(n: int, seed: int = 7) -> list[str]:
    """n texts sampled from the demo fragments (ticket-like combinations) and labelled sentences."""
    from orchestration.lib import demo_data as demo

    rng = random.Random(seed)
    pools: list[Callable[[], str]] = []
    for sent in ("neg", "neu", "pos"):
        pools.append(
            lambda s=sent: " ".join(
                [
                    rng.choice(demo.TICKET_SUBJECTS[s]) + ".",
                    rng.choice(demo.TICKET_OPENERS[s]),
                    rng.choice(demo.TICKET_MIDDLES["neg" if s == "neg" else "neu"]),
                    rng.choice(demo.TICKET_CLOSERS[s]),
                ]
            )
        )
        pools.append(lambda s=sent: rng.choice(demo.SURVEY_TEXTS[s]))
        pools.append(lambda s=sent: rng.choice(demo.NOTE_TEXTS[s]) + " " + rng.choice(demo.NOTE_FOLLOWUPS[s]))
        pools.append(lambda s=sent: rng.choice(demo.SOCIAL_TEXTS[s]))
    try:
        labelled = [s.text for name in LABELLED_FILES for s in load_labelled(name)]
        pools.append(lambda: rng.choice(labelled))
    except FileNotFoundError:
        pass
    return [rng.choice(pools)() for _ in range(n)]


def bench(n_texts: int, batch: int = 10_000) -> dict:
    texts = _bench_texts(n_texts)
    distinct = len(set(texts))
    model = load_model()
    cold_sample = list(dict.fromkeys(texts))[:5000]
    t0 = time.perf_counter()
    model.score(cold_sample)
    cold_rate = len(cold_sample) / (time.perf_counter() - t0)
    cached = CachedModel(load_model())
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        cached.score(texts[i : i + batch])
    seconds = time.perf_counter() - t0
    return {
        "model_version": model.model_version,
        "texts": n_texts,
        "distinct_texts": distinct,
        "seconds": round(seconds, 2),
        "texts_per_second": round(n_texts / seconds),
        "distinct_texts_per_second_uncached": round(cold_rate),
    }


def _print_rows(rows: Iterable[dict]) -> None:
    rows = list(rows)
    print("| file | part | sentences | model | accuracy | ROC AUC |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['file']} | {r['part']} | {r['sentences']} | {r['model']} | {r['accuracy']:.3f} | {r['roc_auc']:.3f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.lib.sentiment")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("evaluate", help="accuracy and ROC AUC per labelled file, plain VADER vs the model")
    p.add_argument("--part", choices=("held_out", "train", "all"), default="held_out")
    sub.add_parser("train", help=f"refit {WEIGHTS_PATH.name} on the training split")
    p = sub.add_parser("bench", help="texts per second, single process")
    p.add_argument("--texts", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if args.command == "evaluate":
        models = {"vader": VaderModel(), "vader+b2b": B2BLexiconModel(), "default": load_model()}
        _print_rows(evaluate(models, args.part))
    elif args.command == "train":
        weights = train()
        print(f"wrote {WEIGHTS_PATH} (C={weights['C']}, cv ROC AUC {weights['cv_roc_auc']}, "
              f"{len(weights['words'])} words)")  # fmt: skip
    elif args.command == "bench":
        print(json.dumps(bench(args.texts), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
