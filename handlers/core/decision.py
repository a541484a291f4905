"""What a reply was read as: the one shape every reader (keyword table, model, page, provider event) gives."""

from __future__ import annotations

from dataclasses import dataclass

OPT_OUT, OPT_IN, HELP, NONE = "opt_out", "opt_in", "help", "none"
REFUSED = "refused"  # an opt-in the channel cannot trust (email from an unverified sender)


@dataclass(frozen=True)
class Decision:
    action: str  # opt_out | opt_in | help | none | refused
    rule: str
    categories: tuple[str, ...] = ()  # empty: everything
    language: str | None = None  # the most likely of `languages`; the reply is written in it
    languages: tuple[str, ...] = ()  # every language the matched words belong to, most likely first
    matched: str | None = None  # the keyword or phrase as written in keywords.yaml
    flagged: bool = False  # a person should look at it
    only_if_opted_out: bool = False  # "YES": an opt-in only from someone who is opted out
    normalised: str = ""
    confidence: float | None = None  # the model's probability of what it read (None: the table decided)

    @property
    def stage(self) -> str:
        """Which stage decided: "model" (the trained model, its rules named model*) or "table" (keywords.yaml's)."""
        return "model" if self.rule.startswith("model") else "table"
