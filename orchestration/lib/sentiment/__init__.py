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
