"""Reading one value of keywords.yaml at its place, and noting each problem as 'line N, where: what'."""

from __future__ import annotations

from .text import words


class KeywordReader:
    """The problems found so far in one file, and the checks of its plain values (texts, word lists)."""

    def __init__(self, path: str, lines: dict[tuple, int]):
        self.path, self.lines = path, lines
        self.problems: list[str] = []

    def problem(self, where: tuple, what: str) -> None:
        line = next((self.lines[where[:n]] for n in range(len(where), -1, -1) if where[:n] in self.lines), None)
        dotted = ".".join(str(p) for p in where) or "(top)"
        self.problems.append(f"line {line}, {dotted}: {what}" if line else f"{dotted}: {what}")

    def text(self, where, value, required=True) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(where, "must be a non-empty text")
            return None
        return value

    def word_list(self, where, value) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(where, "must be a list of words, like [stop, end]")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)
            if isinstance(item, bool):
                # YAML 1.1 reads bare yes/no/on/off as true/false.
                self.problem(where + (i,), f"{item!r} was read as true/false: put the word in quotes, like \"yes\"")
                continue
            if not isinstance(item, str) or not words(item):
                self.problem(where + (i,), "must be a word or phrase with at least one letter or digit")
                continue
            out.append(item)
        return out

    def block(self, where, value, known: tuple[str, ...]) -> dict[str, list[str]]:
        """An optional mapping of word lists (requests, stop_in_sentences), each list checked."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(where, f"must be a mapping with the lists {', '.join(known)}")
            return {}
        for key in value:
            if key not in known:
                self.problem(where + (key,), f"is not a list this block knows ({', '.join(known)})")
        return {key: self.word_list(where + (key,), value.get(key)) for key in known}
