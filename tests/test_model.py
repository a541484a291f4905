"""The trained model behind the keyword table: how it is trained, cached and served, how its reading and the
table's are weighed, what operators teach it in keywords.yaml's `examples:`, and what it does to replies
the table alone misread. Its accuracy on fresh replies is measured by bench/understanding.py."""

import json
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import HANG, ROOT, twilio_params, twilio_post

from handlers.core import understanding
from handlers.core.classifier import classify, explain
from handlers.core.decision import Decision
from handlers.core.judgement import judge
from handlers.core.keyword_file import KeywordFileError, load_keywords, parse_keywords
from handlers.core.model import Example, Model, Prediction, train
from handlers.core.understanding import corpus_examples, model_for, with_model

KEYWORDS = (ROOT / "keywords.yaml").read_text()
TABLE = load_keywords(str(ROOT / "keywords.yaml"))
# A few lines a label and language: enough to train in well under a second, for the mechanics.
SMALL = [Example(label, text, language) for label, text, language in [
    ("opt_out", "please stop texting me", "en"), ("opt_out", "take my number off your list", "en"),
    ("opt_out", "no quiero mas mensajes", "es"), ("opt_out:surveys", "no more surveys please", "en"),
    ("help", "who is this", "en"), ("help", "quien es", "es"), ("opt_in", "send me the texts again", "en"),
    ("none", "running late, see you soon", "en"), ("none", "nos vemos a las ocho", "es"),
    ("none", "can I change my order", "en"),
]]


@pytest.fixture(scope="module")
def served():
    """The shipped keyword table with the model it serves (trained once, or read from data/models)."""
    return with_model(TABLE, str(ROOT / "data" / "models"))


def test_training_is_deterministic_whatever_the_order_of_its_examples():
    first, second = train(SMALL, "h"), train(list(reversed(SMALL)), "h")
    assert first.to_bytes() == second.to_bytes()
    assert first.predict("stop texting me please") == second.predict("stop texting me please")


def test_a_model_read_back_from_its_file_predicts_the_same():
    model = train(SMALL, "h")
    again = Model.from_bytes(model.to_bytes())
    for text in ("who is this?", "stop texting me", "see you at eight", ""):
        assert again.predict(text) == model.predict(text)
    assert again.inputs_hash == "h" and set(again.labels) == {e.label for e in SMALL}


@pytest.fixture
def small_corpus(tmp_path, monkeypatch):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "en.tsv").write_text("# a comment\n" + "".join(f"{e.label}\t{e.text}\n" for e in SMALL
                                                              if e.language == "en"))
    (folder / "es_chat.tsv").write_text("".join(f"{e.label}\t{e.text}\n" for e in SMALL if e.language == "es"))
    monkeypatch.setattr(understanding, "CORPUS", folder)
    monkeypatch.setattr(understanding, "_LOADED", {})
    return folder


def test_a_corpus_file_names_its_language_and_may_be_split_in_parts(small_corpus):
    assert sorted(corpus_examples()) == sorted(SMALL)


def test_the_first_process_trains_and_caches_the_model_the_others_read_it(small_corpus, tmp_path, monkeypatch):
    cache = tmp_path / "models"
    first = model_for(("surveys",), (), str(cache))
    [saved] = cache.glob("model-*.npz")
    monkeypatch.setattr(understanding, "_LOADED", {})  # another process: nothing in memory
    monkeypatch.setattr(understanding, "train", lambda *a: pytest.fail("trained again although cached"))
    second = model_for(("surveys",), (), str(cache))
    assert second.to_bytes() == first.to_bytes() and second is not first
    assert list(cache.glob("model-*.npz")) == [saved]


def test_a_damaged_cache_file_is_trained_again_and_replaced(small_corpus, tmp_path, monkeypatch):
    cache = tmp_path / "models"
    model_for(("surveys",), (), str(cache))
    [saved] = cache.glob("model-*.npz")
    saved.write_bytes(b"not a model")
    monkeypatch.setattr(understanding, "_LOADED", {})
    again = model_for(("surveys",), (), str(cache))
    assert Model.from_bytes(saved.read_bytes()).to_bytes() == again.to_bytes()


def test_an_unwritable_cache_folder_still_serves_a_model(small_corpus, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert model_for(("surveys",), (), str(blocked / "models")).predict("who is this").label == "help"


@pytest.mark.parametrize("categories, expected", [
    (("surveys",), {"opt_out", "opt_out:surveys", "help", "opt_in", "none"}),
    ((), {"opt_out", "help", "opt_in", "none"}),  # a category the table does not have: everything
])
def test_labels_follow_the_tables_categories(small_corpus, categories, expected):
    assert set(model_for(categories, (), None).labels) == expected


def test_examples_in_keywords_yaml_are_learnt_and_change_the_model(small_corpus):
    text = KEYWORDS + ("\nexamples:\n  opt_out:\n    en: [\"zorblax the messages\"]\n"
                       "  none:\n    es: [\"zorblax es mi perro\"]\n")
    table = parse_keywords(text.encode())
    assert table.examples == (Example("opt_out", "zorblax the messages", "en"),
                              Example("none", "zorblax es mi perro", "es"))
    taught = model_for(table.categories, table.examples, None)
    plain = model_for(table.categories, (), None)
    assert taught.inputs_hash != plain.inputs_hash
    assert taught.predict("zorblax the messages").opt_out > plain.predict("zorblax the messages").opt_out


@pytest.mark.parametrize("examples, problem, at", [  # at: the line, counted from `examples:`
    ("examples:\n  stop_everything:\n    en: [\"bye\"]\n", "'stop_everything' is not a label", 2),
    ("examples:\n  opt_out:sweepstakes:\n    en: [\"bye\"]\n", "'opt_out:sweepstakes' is not a label", 2),
    ("examples:\n  opt_out:\n    xx: [\"bye\"]\n", "'xx' is not one of the languages", 3),
    ("examples:\n  opt_out:\n    en: \"bye\"\n", "must be a list", 3),
    ("examples:\n  - opt_out\n", "must map labels", 1),
])
def test_a_bad_examples_section_is_refused_naming_its_line(examples, problem, at):
    text = KEYWORDS + "\n" + examples
    line = len(KEYWORDS.splitlines()) + 1 + at
    with pytest.raises(KeywordFileError) as raised:
        parse_keywords(text.encode())
    assert problem in str(raised.value) and f"line {line}" in str(raised.value)


def test_exact_keywords_never_reach_the_model(served):
    class Refusing:
        def predict(self, text):
            raise AssertionError(f"the model was asked about {text!r}")

    table = replace(served, model=Refusing())
    for text, action in [("STOP", "opt_out"), ("Stop.", "opt_out"), ("ARRÊT", "opt_out"), ("start", "opt_in"),
                         ("HELP", "help"), ("stop promos and surveys", "opt_out"), ("START SURVEYS", "opt_in"),
                         ('Liked “Reply STOP to opt out”', "none")]:
        decision = classify(text, table)
        assert decision.action == action and decision.stage == "table"
        assert decision == classify(text, TABLE)  # exactly as the keyword table alone decides


# Replies the keyword table alone misreads, of the kinds issue 22 names; written for this test, not
# taken from the corpus or the held-out sets. (text, action, categories)
UNDERSTOOD = [
    ("who is this??", "help", ()),
    ("what company is this from", "help", ()),
    ("wer schreibt mir hier?", "help", ()),
    ("qui m'envoie ces messages ?", "help", ()),
    ("please switch my texts back on", "opt_in", ()),
    ("quiero volver a recibir sus mensajes", "opt_in", ()),
    ("no more survey texts please, the rest is fine", "opt_out", ("surveys",)),
    ("i don't need the promo messages anymore", "opt_out", ("promotions",)),
    ("lose my number", "opt_out", ()),
    ("enough of this, take me out of your system", "opt_out", ()),
    ("can I cancel my order from yesterday?", "none", ()),
    ("I'll stop by the shop on Saturday", "none", ()),
    ("paro en el super y voy para allá", "none", ()),
    ("thanks, see you tomorrow!", "none", ()),
]


@pytest.mark.parametrize("text, action, categories", UNDERSTOOD)
def test_what_the_table_alone_misread_is_understood(served, text, action, categories):
    decision = classify(text, served)
    assert (decision.action, decision.categories) == (action, categories), explain(decision)


def test_the_table_alone_misread_most_of_them():
    wrong = [text for text, action, categories in UNDERSTOOD
             if (classify(text, TABLE).action, classify(text, TABLE).categories) != (action, categories)]
    assert len(wrong) >= len(UNDERSTOOD) // 2


def test_a_model_decision_says_so_and_how_sure_it_was(served):
    decision = classify("who is this??", served)
    assert decision.stage == "model" and decision.rule == "model" and decision.matched == "help"
    assert 0.5 <= decision.confidence <= 1 and f"{decision.confidence:.0%} sure" in explain(decision)


@pytest.mark.parametrize("country, action", [("US", "opt_out"), ("GB", "opt_out"), ("DE", "none"), (None, "none")])
def test_a_typo_is_judged_in_the_senders_language(country, action):
    # "stpo" is a German abbreviation (wordfreq), no English word: a typo of STOP from an English speaker.
    assert classify("stpo", TABLE, country).action == action


def test_flask_classify_prints_the_stage_and_the_confidence(tmp_path):
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "classify", "who is this??"],
                          cwd=ROOT, capture_output=True, text=True, timeout=HANG,
                          env={"PATH": str(Path(sys.executable).parent), "MODEL_CACHE_DIR": str(ROOT / "data/models"),
                               "DATABASE_PATH": str(tmp_path / "db.sqlite3")})
    printed = json.loads(done.stdout)
    assert printed["stage"] == "model" and printed["action"] == "help" and printed["confidence"] > 0.5
    assert "trained model" in printed["why"]


def test_an_sms_the_model_decides_is_recorded_with_its_stage_and_confidence(client, db):
    response = twilio_post(client, twilio_params("who is this??"))
    assert response.status_code == 200 and "Help at help@acme.example" in response.get_data(as_text=True)
    row = db.execute("SELECT action, rule, stage, confidence FROM messages").fetchone()
    assert (row["action"], row["rule"], row["stage"]) == ("help", "model", "model") and row["confidence"] > 0.5


def test_an_email_reply_goes_through_the_same_model(settings, make_app, db):
    from test_email_webhooks import PASSWORD, USER, basic

    client = make_app({**settings, "INBOUND_EMAIL_USER": USER, "INBOUND_EMAIL_PASSWORD": PASSWORD}).test_client()
    mime = ("From: Ann Lee <ann@example.org>\r\nTo: news@acme.example\r\nSubject: Re: Spring sale\r\n"
            "Message-ID: <model-1@example.org>\r\n\r\nHi,\r\n\r\nplease lose my email address, I'm done with "
            "these.\r\n\r\nThanks,\r\nAnn\r\n")
    response = client.post("/webhooks/email/mime", data=mime.encode(), content_type="message/rfc822",
                           headers=basic())
    assert response.status_code == 200
    row = db.execute("SELECT action, stage, confidence FROM messages").fetchone()
    assert (row["action"], row["stage"]) == ("opt_out", "model") and row["confidence"] >= 0.6


@pytest.mark.parametrize("action, categories, rule, matched, confidence, words", [
    ("help", [], "model", "help", 0.79, "Asked for help (the trained model, 79% sure)"),
    ("opt_out", ["surveys"], "model", "opt_out:surveys", 0.912, "Opted out of surveys (the trained model, 91% sure)"),
    ("opt_out", [], "model_unsure", "opt_out", 0.5, "Opted out of everything (the trained model, only 50% sure)"),
    ("none", [], "model_overruled", "none", 0.9,
     "Not an opt-out (a rule read an opt-out; the trained model, 90% sure, did not)"),
    ("opt_out", [], "keyword", "stop", None, "Opted out of everything (keyword STOP)"),
])
def test_pages_word_a_model_decision_with_its_confidence(action, categories, rule, matched, confidence, words):
    from handlers.web.labels import describe

    assert describe(action, categories, rule, matched, confidence) == words


def reading(rule, action="none", flagged=False, matched=None, text="can you stop sending these to my old address"):
    matched = matched or ("stop" if action == "opt_out" else None)
    return Decision(action, rule, (), "en", ("en",), matched, flagged, normalised=text)


def guess(label, probability, opt_out=None, language_probability=0.95, others=()):
    """A model's prediction: `label` at `probability`, the opt-out labels summing to `opt_out` (by default,
    what `label` leaves is opt-outs)."""
    if opt_out is None:
        opt_out = probability if label.startswith("opt_out") else 1.0 - probability
    return Prediction(label, probability, opt_out, "en", language_probability, ((label, probability), *others))


# (the table's reading, the model's, what is decided: action, categories, rule, flagged)
JUDGEMENTS = [
    # the table saw nothing: the model acts from 60%, unsure (flagged) under 75%, nothing under 60%
    (reading("no_match"), guess("opt_out", 0.9), ("opt_out", (), "model", False)),
    (reading("no_match"), guess("opt_out", 0.65), ("opt_out", (), "model_unsure", True)),
    (reading("no_match"), guess("opt_out", 0.55), ("none", (), "no_match", False)),
    (reading("no_match"), guess("opt_out:surveys", 0.8, others=(("opt_out", 0.05),)),
     ("opt_out", ("surveys",), "model", False)),
    (reading("no_match"), guess("opt_out:surveys", 0.4, opt_out=0.8, others=(("opt_out", 0.4),)),
     ("opt_out", (), "model", False)),  # split between everything and surveys: everything
    (reading("no_match"), guess("help", 0.45), ("help", (), "model", False)),
    (reading("no_match"), guess("help", 0.35, opt_out=0.3), ("none", (), "no_match", False)),
    (reading("no_match"), guess("opt_in", 0.55), ("opt_in", (), "model", False)),
    (reading("no_match"), guess("opt_in", 0.45, opt_out=0.3), ("none", (), "no_match", False)),
    (reading("weak_word_in_message", flagged=True), guess("none", 0.9), ("none", (), "weak_word_in_message", True)),
    # a rule read an opt-out: it stands, narrowed to a category, or overruled only when the model is sure
    (reading("phrase", "opt_out"), guess("none", 0.8), ("opt_out", (), "phrase", False)),
    (reading("phrase", "opt_out"), guess("none", 0.9), ("none", (), "model_overruled", True)),
    (reading("leading_keyword", "opt_out"), guess("none", 0.88), ("opt_out", (), "leading_keyword", False)),
    (reading("leading_keyword", "opt_out"), guess("none", 0.95), ("none", (), "model_overruled", True)),
    (reading("stop_word_in_message", "opt_out", True), guess("none", 0.85), ("none", (), "model_overruled", True)),
    (reading("stop_word_in_message", "opt_out", True), guess("help", 0.85), ("help", (), "model_overruled", True)),
    (reading("leading_keyword", "opt_out"), guess("opt_out:promotions", 0.7, others=(("opt_out", 0.1),)),
     ("opt_out", ("promotions",), "model", False)),
    (reading("request", "opt_out"), guess("opt_out:lotteries", 0.9), ("opt_out", (), "request", False)),
    # in a long message (mostly email) a stop word or phrase is often said in passing: overruled from 70%
    (reading("stop_word_in_message", "opt_out", True, text=" ".join(["word"] * 14 + ["unsubscribe"])),
     guess("none", 0.75), ("none", (), "model_overruled", True)),
    (reading("stop_word_in_message", "opt_out", True, text=" ".join(["word"] * 13 + ["unsubscribe"])),
     guess("none", 0.75), ("opt_out", (), "stop_word_in_message", True)),
    # the operator's words are the whole message, or all of it but one word: never overruled
    (reading("phrase", "opt_out", matched="leave me alone", text="leave me alone"), guess("none", 0.97),
     ("opt_out", (), "phrase", False)),
    (reading("leading_keyword", "opt_out", text="stop please"), guess("none", 0.99),
     ("opt_out", (), "leading_keyword", False)),
]


@pytest.mark.parametrize("table_says, model_says, expected", JUDGEMENTS)
def test_the_table_and_the_model_are_weighed(table_says, model_says, expected):
    decided = judge(table_says, model_says, TABLE)
    assert (decided.action, decided.categories, decided.rule, decided.flagged) == expected


def test_an_overruled_opt_out_says_how_sure_the_model_is_that_it_is_none():
    decided = judge(reading("phrase", "opt_out"), guess("help", 0.5, opt_out=0.05), TABLE)
    assert (decided.action, decided.matched, decided.confidence) == ("none", "none", 0.95)
    assert explain(decided) == ("a rule read an opt-out, but the trained model reads it as none (95% sure): "
                                "flagged")


def test_the_shipped_corpus_covers_every_label_in_every_language():
    examples = corpus_examples()
    assert {e.label for e in examples} == {"opt_out", "opt_out:promotions", "opt_out:surveys", "opt_out:newsletter",
                                           "help", "opt_in", "none"}
    counts = Counter((e.language, e.label.split(":")[0]) for e in examples)
    for language in ("en", "es", "fr", "de", "pt", "it", "nl"):
        for label, least in (("opt_out", 300), ("help", 100), ("opt_in", 90), ("none", 700)):
            assert counts[language, label] >= least, (language, label)
    labels_of: dict[str, set] = {}
    for e in examples:
        labels_of.setdefault(e.text.casefold(), set()).add(e.label)
    assert [text for text, labels in labels_of.items() if len(labels) > 1] == []  # one reply, one meaning
