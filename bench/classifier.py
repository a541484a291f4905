"""Benchmark (run by hand, not a test): the classifier against the one at a git revision (default main),
both measured in this run: microseconds per classification and their ratio, and, given a corpus of real
person-to-person texts, how many of them each would opt out (none asked anything of a business).

The corpus is read from a path, never shipped: the SMS Spam Collection v.1 (Almeida & Gómez Hidalgo,
UCI Machine Learning Repository, CC BY 4.0; its `ham` lines are 4,827 texts between people) in its own
format, one `label<TAB>text` a line, or any file of one message a line.

    .venv/bin/python bench/classifier.py [--corpus SMSSpamCollection] [--baseline main] [--repeat 20]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.core.classifier import classify  # noqa: I001
from handlers.core.keyword_file import load_keywords

# Used when no corpus is given: one of each kind the classifier meets, in the proportions a sender sees
# (most replies are short; a few are keywords, typos, requests in other words or idioms).
SAMPLES = [
    "STOP", "stop", "Unsubscribe", "HELP", "START", "yes", "ok thanks", "Who is this?", "👍", "Thanks!",
    "stop promos", "STOP SURVEYS AND PROMOS", "unsubscirbe", "Sto p", "stoooop", "shop",
    "get me off your list", "please remove me from your list", "I couldn't stop laughing at that",
    "Is the store on Main St open on Sunday? I'll stop by after work", "cancel my order please",
    "Liked “Flash sale today! Reply STOP to opt out”", "Can you send me the promo code again? It didn't work",
    "Basta de mensajes", "nehmt mich aus dem Verteiler", "haal mij uit het bestand", "Arrêt", "no me interesa",
    "Sorry wrong number, I don't know anyone called Sam", "What time does the sale end tomorrow?",
]


def baseline_package(revision: str, into: Path) -> tuple[object, object]:
    """(classify, table) of the classifier and keywords.yaml at `revision`, imported as package `baseline`."""
    core = into / "baseline" / "core"
    core.mkdir(parents=True)
    (into / "baseline" / "__init__.py").write_text("")
    for name in ("__init__", "classifier", "keywords", "keyword_file", "keyword_reader", "keyword_templates",
                 "keyword_texts", "keyword_hints", "text", "typos", "decision", "judgement", "model", "features",
                 "sentences", "wording"):
        shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:handlers/core/{name}.py"],
                               capture_output=True, text=True)
        if shown.returncode == 0:
            (core / f"{name}.py").write_text(shown.stdout)
    keywords = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:keywords.yaml"],
                              capture_output=True, text=True, check=True).stdout
    (into / "keywords.yaml").write_text(keywords)
    sys.path.insert(0, str(into))
    old_classifier = importlib.import_module("baseline.core.classifier")
    # The loader moved to keyword_file.py beside the table (issue 22); older revisions kept it in keywords.py.
    loader = "keyword_file" if (core / "keyword_file.py").exists() else "keywords"
    old_keywords = importlib.import_module(f"baseline.core.{loader}")
    return old_classifier.classify, old_keywords.load_keywords(str(into / "keywords.yaml"))


def read_corpus(path: str) -> list[str]:
    """The person-to-person messages of a corpus file (SMS Spam Collection: its ham lines only)."""
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    labelled = all("\t" in line for line in lines[:50] if line.strip())
    if labelled:
        return [text.strip() for label, _, text in (line.partition("\t") for line in lines) if label == "ham"]
    return [line.strip() for line in lines if line.strip()]


def per_call_us(contenders, messages: list[str], repeat: int) -> list[list[float]]:
    """For each (classify, table), the mean time of one classification in each of `repeat` rounds, in
    microseconds; the contenders take turns within a round, so that a busy machine slows them alike."""
    rounds: list[list[float]] = [[] for _ in contenders]
    for _ in range(repeat):
        for times, (fn, table) in zip(rounds, contenders, strict=True):
            start = time.perf_counter()
            for text in messages:
                fn(text, table)
            times.append((time.perf_counter() - start) / len(messages) * 1e6)
    return rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", help="SMS Spam Collection file, or one message a line")
    parser.add_argument("--baseline", default="main", help="git revision of the classifier to compare with")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--show", type=int, default=40, help="list at most this many opt-outs of the corpus")
    args = parser.parse_args()

    table = load_keywords(str(ROOT / "keywords.yaml"))
    with tempfile.TemporaryDirectory(prefix="classifier-bench-") as work:
        old_classify, old_table = baseline_package(args.baseline, Path(work))
        messages = read_corpus(args.corpus) if args.corpus else SAMPLES
        for fn, tbl in ((old_classify, old_table), (classify, table)):  # warm both (caches, word lists)
            for text in messages[:200]:
                fn(text, tbl)
        old_rounds, new_rounds = per_call_us([(old_classify, old_table), (classify, table)], messages, args.repeat)
        old_us, new_us = statistics.median(old_rounds), statistics.median(new_rounds)
        ratio = statistics.median(new / old for old, new in zip(old_rounds, new_rounds, strict=True))
        print(f"{len(messages)} messages ({args.corpus or 'built-in samples'}), median of {args.repeat} rounds")
        print(f"  {'classifier at ' + args.baseline:<24} {old_us:8.1f} µs per classification")
        print(f"  {'this classifier':<24} {new_us:8.1f} µs per classification  (x{ratio:.2f}, median of "
              "the rounds' ratios)")
        if not args.corpus:
            return 0
        for name, fn, tbl in (("at " + args.baseline, old_classify, old_table), ("this one", classify, table)):
            decisions = [(text, fn(text, tbl)) for text in messages]
            opted = [(text, d) for text, d in decisions if d.action == "opt_out"]
            print(f"opted out by the classifier {name}: {len(opted)} of {len(messages)} "
                  f"({100 * len(opted) / len(messages):.2f}%)")
            by_rule: dict[str, int] = {}
            for _, d in opted:
                by_rule[d.rule] = by_rule.get(d.rule, 0) + 1
            print("  by rule: " + ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items())))
            if fn is classify:
                for text, d in opted[:args.show]:
                    print(f"  {d.rule:<22} {d.matched!r:<22} {text[:90]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
