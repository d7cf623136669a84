"""Evaluate and train the default model on the labelled sentences (held-out part for evaluation)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.sentiment.model import (
    VADER_FEATURES,
    WEIGHTS_PATH,
    B2BLexiconModel,
    SentimentModel,
    content_hash,
    tokens,
)
from orchestration.lib.settings import PROJECT_ROOT

LABELLED_ENV = "HEALTHSCORE_SENTIMENT_LABELLED_DIR"
DEFAULT_LABELLED_DIR = PROJECT_ROOT / "examples" / "sentiment_labelled_sentences"  # UCI, CC BY 4.0
LABELLED_FILES = {
    "amazon": "amazon_cells_labelled.txt",
    "yelp": "yelp_labelled.txt",
    "imdb": "imdb_labelled.txt",
}
# A sentence is held out when its SHA-256 (UTF-8, stripped) modulo HOLDOUT_MODULUS is 0:
# deterministic, independent of file order, and duplicates always land on the same side.
HOLDOUT_MODULUS = 5


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


def accuracy(scores: list[float], labels: list[int], threshold: float = 0.05) -> float:
    """Share right when compound >= threshold means positive (neutral counts as negative)."""
    return sum((s >= threshold) == bool(y) for s, y in zip(scores, labels, strict=True)) / len(labels)


def evaluate(models: dict[str, SentimentModel], part: str = "held_out") -> list[dict]:
    """Accuracy and ROC AUC per labelled file and model, on the held-out part (or 'train', 'all')."""
    from sklearn.metrics import roc_auc_score

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
                    "roc_auc": round(float(roc_auc_score(labels, scores)), 3),
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
