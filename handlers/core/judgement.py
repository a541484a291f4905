"""How the keyword table's reading and the trained model's are weighed, for a message the table does not
settle on its own (anything but a reaction, a whole-message keyword, or a keyword and category names).

The band, chosen by five-fold cross-validation on the corpus (each line read by a model that never saw
it; README, "Understanding"), then checked on the held-out sets and on person-to-person texts:
- an opt-out the model is at least UNSURE sure of is acted on (of everything, or of the one kind it
  names); below ACT it is unsure: flagged for review, and it follows `ambiguous` (opted out, or asked
  by SMS). UNSURE is the one threshold not set by cross-validation alone: each 0.05 lower catches about
  70 more of the corpus's 3,085 opt-outs and opts out 20-30 more of its 9,169 other lines, and 0.65 is
  the lowest that keeps person-to-person texts (the SMS Spam Collection) within 0.15% opted out;
- a question about who is writing gets the help reply from HELP_ACT, an opt-in in the person's words
  acts as START from OPT_IN_ACT, when it is the model's most likely reading (either costs one reply if
  wrong; missing them leaves a person unanswered);
- otherwise nothing happens, unless a rule of the table read an opt-out: the table's reading stands,
  narrowed to one category if the model reads one, unless the model is OVERRULE sure it is something
  else (then nothing happens, and it is flagged).
"""

from __future__ import annotations

from dataclasses import replace

from .decision import HELP, NONE, OPT_IN, OPT_OUT, Decision
from .keywords import KeywordTable
from .model import OPT_OUT_LABEL, Prediction
from .text import words

ACT = 0.75
UNSURE = 0.65
# A weak stop word in a sentence ("quit blowing up my phone", "basta coi promemoria") already made the table
# flag the message: the model's opt-out counts from here. Cross-validated: 0.45 instead of 0.6 caught 26
# more of the corpus's opt-outs (then 2,603) for 9 more of its 9,169 other lines opted out.
UNSURE_AFTER_WEAK_WORD = 0.45
HELP_ACT = 0.4  # a question about who is writing: the help reply
OPT_IN_ACT = 0.5  # an opt-in in the person's own words, acted on as START
# How sure the model must be that a rule's opt-out is not one (an order, an idiom, a negation) to overrule it.
# Cross-validated on the corpus (bench/understanding.py --cross-validate): at these and OVERRULE_LONG,
# 220 of the rules' false opt-outs were undone for 19 real opt-outs missed (each flagged for review). A
# message that starts with a stop word ("Arrêt, s'il vous plaît") and an operator's own phrases need more
# certainty than a stop word inside a sentence.
OVERRULE = {"phrase": 0.85, "request": 0.85, "leading_keyword": 0.9, "stop_word_in_message": 0.8}
# In a message of LONG words or more (mostly email), a stop word or a phrase is often said in passing ("the
# unsubscribe link goes to a 404", "stop sending packages to my old address"): cross-validated, 0.7 there
# undid 14 more false opt-outs for 2 more real ones missed.
LONG = 15
OVERRULE_LONG = {**OVERRULE, "phrase": 0.7, "stop_word_in_message": 0.7}
NARROW = 0.5  # the model's opt-out probability from which it may narrow a rule's opt-out to one category
CATEGORY_SHARE = 0.6  # of the opt-out probability, on one category: the opt-out is of that category only
LANGUAGE_SURE = 0.9  # a language recognised this surely is the message's own (the reply's, the typo's)


def judge(table_says: Decision, model: Prediction, table: KeywordTable) -> Decision:
    """The decision, from the table's reading and the model's."""
    if table_says.action == OPT_OUT:
        return _checked_opt_out(table_says, model, table)
    if model.opt_out >= (UNSURE_AFTER_WEAK_WORD if table_says.rule == "weak_word_in_message" else UNSURE):
        return _opt_out(table_says, model, table, flagged=model.opt_out < ACT or table_says.flagged)
    if model.label == "help" and model.probability >= HELP_ACT:
        return _decided(table_says, model, HELP, (), "model", False)
    if model.label == "opt_in" and model.probability >= OPT_IN_ACT:
        return _decided(table_says, model, OPT_IN, (), "model", False)
    return table_says


def _checked_opt_out(table_says: Decision, model: Prediction, table: KeywordTable) -> Decision:
    """A rule read an opt-out: the model may narrow it to one kind, or overrule it when it is sure it is not."""
    if model.opt_out >= NARROW:
        categories = _category(model, table)
        if categories:
            return _decided(table_says, model, OPT_OUT, categories, "model", table_says.flagged)
        return table_says
    if _nearly_whole(table_says):
        return table_says  # "Laat me met rust", "Stop please": the operator's words are the message
    long = len(table_says.normalised.split()) >= LONG
    needed = (OVERRULE_LONG if long else OVERRULE).get(table_says.rule, 1.0)
    if 1.0 - model.opt_out >= needed:
        action = {"help": HELP, "opt_in": OPT_IN}.get(model.label, NONE) if model.probability >= ACT else NONE
        # Said as what it is sure of: not an opt-out, at 1 - the opt-out probability.
        return _decided(table_says, model, action, (), "model_overruled", True, sure=1.0 - model.opt_out,
                        label=model.label if action != NONE else NONE)
    return table_says


def _nearly_whole(table_says: Decision) -> bool:
    """The words that matched are the whole message, but for one word at most."""
    return len(words(table_says.matched or "")) >= len(table_says.normalised.split()) - 1


def _opt_out(table_says: Decision, model: Prediction, table: KeywordTable, flagged: bool) -> Decision:
    rule = "model_unsure" if model.opt_out < ACT else "model"
    return _decided(table_says, model, OPT_OUT, _category(model, table), rule, flagged)


def _category(model: Prediction, table: KeywordTable) -> tuple[str, ...]:
    """The one category the model's opt-out is about, if it is clearly one; () for everything."""
    label, probability = max(((lab, p) for lab, p in model.probabilities if lab.startswith(OPT_OUT_LABEL + ":")),
                             key=lambda pair: pair[1], default=(None, 0.0))
    if label is None or probability < CATEGORY_SHARE * model.opt_out:
        return ()
    category = label.split(":", 1)[1]
    return (category,) if category in table.categories else ()


def _decided(table_says: Decision, model: Prediction, action: str, categories: tuple[str, ...], rule: str,
             flagged: bool, sure: float | None = None, label: str | None = None) -> Decision:
    """The model's decision, saying what it read (`label`) and how sure it was of that (`sure`)."""
    if sure is None:
        sure = model.opt_out if action == OPT_OUT else model.probability
    if label is None:
        label = model.label if action != OPT_OUT else OPT_OUT_LABEL + (f":{categories[0]}" if categories else "")
    languages = (model.language,) if model.language_probability >= LANGUAGE_SURE else table_says.languages
    return replace(table_says, action=action, rule=rule, categories=categories,
                   language=languages[0] if languages else None, languages=languages, matched=label,
                   flagged=flagged, only_if_opted_out=False, confidence=round(sure, 4))
