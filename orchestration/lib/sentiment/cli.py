"""python -m orchestration.lib.sentiment evaluate | train | bench"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Iterable

from orchestration.lib.sentiment.evaluate import (
    LABELLED_FILES,
    evaluate,
    load_labelled,
    train,
)
from orchestration.lib.sentiment.model import (
    WEIGHTS_PATH,
    B2BLexiconModel,
    CachedModel,
    VaderModel,
    load_model,
)


def _bench_texts(n: int, seed: int = 7) -> list[str]:
    """n texts sampled from the demo fragments (ticket-like combinations) and labelled sentences."""
    from orchestration.lib.demo.params import (
        NOTE_FOLLOWUPS,
        NOTE_TEXTS,
        SOCIAL_TEXTS,
        SURVEY_TEXTS,
        TICKET_CLOSERS,
        TICKET_MIDDLES,
        TICKET_OPENERS,
        TICKET_SUBJECTS,
    )

    rng = random.Random(seed)
    pools: list[Callable[[], str]] = []
    for sent in ("neg", "neu", "pos"):
        pools.append(
            lambda s=sent: " ".join(
                [
                    rng.choice(TICKET_SUBJECTS[s]) + ".",
                    rng.choice(TICKET_OPENERS[s]),
                    rng.choice(TICKET_MIDDLES["neg" if s == "neg" else "neu"]),
                    rng.choice(TICKET_CLOSERS[s]),
                ]
            )
        )
        pools.append(lambda s=sent: rng.choice(SURVEY_TEXTS[s]))
        pools.append(lambda s=sent: rng.choice(NOTE_TEXTS[s]) + " " + rng.choice(NOTE_FOLLOWUPS[s]))
        pools.append(lambda s=sent: rng.choice(SOCIAL_TEXTS[s]))
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
