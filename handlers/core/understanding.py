"""The model a keyword table serves: learnt from the corpus this package ships (handlers/core/corpus/*.tsv)
and the table's own `examples:`, and cached under the hash of everything it was learnt from, so that
every worker and node that loads the same file serves the same model, and only the first trains it."""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from .keywords import KeywordTable
from .model import Example, Model, in_order, train

CORPUS = Path(__file__).with_name("corpus")
# What the model is made of: a change to any of these is a new model (a new hash, a new cache file).
_CODE = [Path(__file__).with_name(name) for name in ("features.py", "model.py", "text.py")]
_LOADED: dict[str, Model] = {}  # hash -> model, for as long as the process lives: reloads of one table
# (corpus folder, categories, examples) -> hash: reading and hashing the corpus took 3x as long as loading
# the table itself, on every load; the corpus ships with the code and changes only with a new process.
_HASHES: dict[tuple, str] = {}


class CorpusError(Exception):
    """A corpus line that cannot be read: its file, line and the problem."""


def corpus_examples(folder: Path | None = None) -> list[Example]:
    """Every labelled line of the corpus files (`<language>[_<part>].tsv`: `label<TAB>text`, `#` comments)."""
    found = []
    for path in sorted((folder or CORPUS).glob("*.tsv")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            label, tab, text = line.partition("\t")
            if not tab or not text.strip():
                raise CorpusError(f"{path.name} line {number}: write label<TAB>text")
            found.append(Example(label.strip(), text.replace("\\n", "\n").strip(), path.stem.split("_")[0]))
    return found


def examples_for(categories: tuple[str, ...], own: tuple[Example, ...], folder: Path | None = None) -> list[Example]:
    """The corpus and the table's own examples, labelled for the table's categories: a request to stop a
    category the table does not have is a request to stop everything (the safe reading)."""
    labels = {"opt_out", "help", "opt_in", "none"} | {f"opt_out:{c}" for c in categories}
    found = []
    for example in [*corpus_examples(folder), *own]:
        if example.label not in labels:
            if not example.label.startswith("opt_out:"):
                raise CorpusError(f"unknown label {example.label!r} ({example.language}: {example.text[:40]!r})")
            example = Example("opt_out", example.text, example.language)
        found.append(example)
    return found


def inputs_hash(examples: list[Example]) -> str:
    digest = hashlib.sha256()
    for path in _CODE:
        digest.update(path.read_bytes())
    for example in in_order(examples):
        digest.update(f"{example.label}\t{example.language}\t{example.text}\0".encode())
    return digest.hexdigest()


def with_model(table: KeywordTable, cache_dir: str | None) -> KeywordTable:
    """`table` with the model of its categories and examples behind its rules."""
    return replace(table, model=model_for(table.categories, table.examples, cache_dir))


def ready_model(table: KeywordTable, cache_dir: str | None) -> Model | None:
    """The table's model if it needs no training (in this process's memory or in the cache folder), else None."""
    key = _key(table.categories, table.examples)
    if key not in _LOADED and cache_dir:
        try:
            model = Model.from_bytes((Path(cache_dir) / _file_name(key)).read_bytes())
        except (OSError, ValueError, KeyError):
            return None
        if model.inputs_hash == key:
            _LOADED[key] = model
    return _LOADED.get(key)


def model_for(categories: tuple[str, ...], own: tuple[Example, ...], cache_dir: str | None) -> Model:
    """The model of these categories and examples: from this process's memory, else the cache folder, else
    trained (once across processes: the others wait for it) and written there."""
    key = _key(categories, own)
    model = _LOADED.get(key)
    if model is None:
        examples = examples_for(categories, own)
        model = _LOADED[key] = _cached(examples, key, cache_dir) if cache_dir else train(examples, key)
    return model


def _key(categories: tuple[str, ...], own: tuple[Example, ...]) -> str:
    remembered = (str(CORPUS), categories, own)
    key = _HASHES.get(remembered)
    if key is None:
        key = _HASHES[remembered] = inputs_hash(examples_for(categories, own))
    return key


def _file_name(key: str) -> str:
    return f"model-{key[:32]}.npz"


def _cached(examples: list[Example], key: str, cache_dir: str) -> Model:
    folder = Path(cache_dir)
    path = folder / _file_name(key)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / ".training-lock", "a")
    except OSError:
        return train(examples, key)  # a read-only disk still serves; every process trains its own
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            model = Model.from_bytes(path.read_bytes())
            if model.inputs_hash == key:
                return model
        except (OSError, ValueError, KeyError):
            pass  # absent, or not a model of ours: trained again below
        model = train(examples, key)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".model-", delete=False) as out:
            out.write(model.to_bytes())
        os.chmod(out.name, 0o644)  # as any file the service writes: readable by the other processes' users
        os.replace(out.name, path)
        return model
