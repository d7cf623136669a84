"""The sentiment models: the `SentimentModel` interface, VADER with the B2B lexicon
(sentiment_lexicon.json) and the default logistic model over it (sentiment_weights.json)."""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

HERE = Path(__file__).parent
LEXICON_PATH = HERE / "sentiment_lexicon.json"
WEIGHTS_PATH = HERE / "sentiment_weights.json"
MODEL_ENV = "HEALTHSCORE_SENTIMENT_MODEL"

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


# --------------------------------------------------------------------------------------------
# personal data
# --------------------------------------------------------------------------------------------
# Bounded repetitions (an e-mail's local part has at most 64 characters, a domain label 63, a
# phone number far fewer than 40): unbounded ones backtrack quadratically, and one 5 MB ticket
# body took hours to mask (issue 20).
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
# Digit runs with separators; masked when they hold 7+ digits and do not start with an ISO date.
# Not after a word character, nor after "<word>-": identifiers such as INV-000035-0-02 stay.
_PHONE = re.compile(r"(?<![\w+])(?<!\w-)\+?\(?\d[\d\s().-]{5,40}\d(?!\w)")
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
