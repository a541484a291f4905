"""The trained model behind the keyword table: what a reply asks for (a label with a probability) and
which shipped language it is written in, from the features of handlers/core/features.py.

Serving needs numpy only: a model is a vocabulary, idf weights and two linear layers (labels and
languages). Training (`train`) uses scikit-learn's logistic regression, imported only when a model is
trained. Both are deterministic: the same examples always give the same model, in every process.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .features import features, weighted

OPT_OUT_LABEL = "opt_out"
# Fixed: the same examples give the same model on every node (scikit-learn's lbfgs is deterministic;
# the seed only matters to solvers that shuffle).
SEED = 20261207
# A feature seen in one example only is dropped: it says more about that line than about the label, and it
# more than doubles the features to fit (training took twice as long with them, for the same accuracy).
MIN_DOCUMENTS = 2
# Inverse regularisation strength. In cross-validation (bench/understanding.py --cross-validate) the table and
# model together read 84.6% of the corpus right at 3, 88.0% at 10, 89.6% at 30 and 90.2% at 100; but a
# weaker regularisation is surer of texts unlike the corpus: at the same thresholds it opted out 12 (30) and
# 18 (100) of the SMS Spam Collection's person-to-person texts instead of 7, and at 30 the threshold that
# brings that back (0.7 -> 9, still over 7) gives back most of its gain. 10 is the strongest that keeps to
# the 0.15%.
STRENGTH = 10.0


@dataclass(frozen=True, order=True)
class Example:
    label: str  # opt_out, opt_out:<category>, help, opt_in, none
    text: str
    language: str  # the shipped language it is written in


@dataclass(frozen=True)
class Prediction:
    label: str  # the most likely label
    probability: float  # its probability
    opt_out: float  # the probability of any opt-out label (everything or one category)
    language: str | None  # the most likely language
    language_probability: float
    probabilities: tuple[tuple[str, float], ...]  # every label, most likely first


class Model:
    """A trained model: `predict(text)`. Immutable once built; shared by every thread of a process."""

    def __init__(self, labels, languages, vocabulary, idf, label_weights, label_bias, language_weights,
                 language_bias, inputs_hash: str = ""):
        self.labels = tuple(labels)
        self.languages = tuple(languages)
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float32)
        # Column-major (features x classes): one message reads a few hundred whole rows.
        self.label_weights = np.ascontiguousarray(label_weights, dtype=np.float32)
        self.label_bias = np.asarray(label_bias, dtype=np.float32)
        self.language_weights = np.ascontiguousarray(language_weights, dtype=np.float32)
        self.language_bias = np.asarray(language_bias, dtype=np.float32)
        self.inputs_hash = inputs_hash
        self._idf = self.idf.tolist()
        self._opt_out = np.array([label.split(":")[0] == OPT_OUT_LABEL for label in self.labels])

    def predict(self, text: str) -> Prediction:
        columns, values = weighted(features(text), self.vocabulary, self._idf)
        x = np.asarray(values, dtype=np.float32)
        labels = _softmax(x @ self.label_weights[columns] + self.label_bias)
        languages = _softmax(x @ self.language_weights[columns] + self.language_bias)
        order = np.argsort(-labels, kind="stable")
        best = int(order[0])
        spoken = int(np.argmax(languages))
        return Prediction(
            label=self.labels[best],
            probability=float(labels[best]),
            opt_out=float(labels[self._opt_out].sum()),
            language=self.languages[spoken],
            language_probability=float(languages[spoken]),
            probabilities=tuple((self.labels[i], float(labels[i])) for i in order),
        )

    def to_bytes(self) -> bytes:
        """The model as one .npz file's bytes (no pickle: loading it runs no code)."""
        names = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        meta = {"labels": self.labels, "languages": self.languages, "inputs_hash": self.inputs_hash}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                            vocabulary=np.frombuffer("\n".join(names).encode(), dtype=np.uint8), idf=self.idf,
                            label_weights=self.label_weights, label_bias=self.label_bias,
                            language_weights=self.language_weights, language_bias=self.language_bias)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Model:
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            meta = json.loads(saved["meta"].tobytes().decode())
            names = saved["vocabulary"].tobytes().decode().split("\n")
            return cls(meta["labels"], meta["languages"], {name: i for i, name in enumerate(names)}, saved["idf"],
                       saved["label_weights"], saved["label_bias"], saved["language_weights"],
                       saved["language_bias"], meta["inputs_hash"])


def in_order(examples: Iterable[Example]) -> list[Example]:
    """Each example once, in the one order training and the cache's hash both read them."""
    return sorted(set(examples), key=lambda e: (e.label, e.language, e.text))


def train(examples: Iterable[Example], inputs_hash: str = "") -> Model:
    """A model learnt from `examples` (deterministic: the same examples, in any order, give the same model)."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    examples = in_order(examples)
    counted = [features(e.text) for e in examples]
    document_frequency: Counter = Counter()
    for counts in counted:
        document_frequency.update(counts.keys())
    names = sorted(name for name, seen in document_frequency.items() if seen >= MIN_DOCUMENTS)
    vocabulary = {name: i for i, name in enumerate(names)}
    n = len(examples)
    idf = [math.log((1 + n) / (1 + document_frequency[name])) + 1.0 for name in names]  # scikit-learn's smooth idf

    rows, columns, values = [], [], []
    for row, counts in enumerate(counted):
        cols, vals = weighted(counts, vocabulary, idf)
        rows.extend([row] * len(cols))
        columns.extend(cols)
        values.extend(vals)
    matrix = csr_matrix((values, (rows, columns)), shape=(n, len(names)), dtype=np.float64)

    labels = sorted({e.label for e in examples})
    languages = sorted({e.language for e in examples})
    label_fit = _fit(LogisticRegression, matrix, [e.label for e in examples], labels)
    # Telling seven languages apart is easy: a looser tolerance converges in a third of the time.
    language_fit = _fit(LogisticRegression, matrix, [e.language for e in examples], languages, strength=1.0,
                        tolerance=1e-3)
    return Model(labels, languages, vocabulary, idf, *label_fit, *language_fit, inputs_hash=inputs_hash)


def _fit(estimator, matrix, targets: list[str], classes: list[str], strength: float = STRENGTH,
         tolerance: float = 1e-4):
    """(weights as features x classes, bias) of a multinomial logistic regression; two classes kept as two,
    and one (a corpus of one language) certain."""
    if len(classes) == 1:
        return np.zeros((matrix.shape[1], 1)), np.zeros(1)
    fitted = estimator(C=strength, max_iter=3000, tol=tolerance, random_state=SEED).fit(matrix, targets)
    assert list(fitted.classes_) == classes
    weights, bias = fitted.coef_, fitted.intercept_
    if len(classes) == 2:  # scikit-learn keeps one row for two classes: the second's score against the first
        weights, bias = np.vstack([-weights / 2, weights / 2]), np.concatenate([-bias / 2, bias / 2])
    return weights.T, bias


def _softmax(scores):
    scores = scores - scores.max()
    exp = np.exp(scores)
    return exp / exp.sum()
