"""keywords.yaml is validated on load, with errors that name the place and the problem."""

import re
import subprocess
import sys
import textwrap

import pytest
from conftest import HANG, ROOT

from app import create_app
from handlers.core.classifier import classify
from handlers.core.keyword_file import KeywordFileError, load_keywords, parse_keywords
from handlers.core.text import sms_encoding, sms_segments

VALID = textwrap.dedent("""\
    brand: Acme
    help_contact: help@acme.example
    categories:
      surveys:
        en: [surveys, survey]
    languages:
      en:
        stop: [stop, opt out]
        stop_weak: [end]
        start: [start]
        start_if_stopped: ["yes"]
        help: [help]
        stop_phrases: [remove me from your list]
        joiners: [and]
        replies:
          sms:
            stopped_all: "{brand}: no more texts. Reply {start} to undo."
            stopped_categories: "{brand}: no more {categories} texts. Reply {start} {category_words} to undo."
            started_all: "{brand}: texts again. Msg&data rates may apply. {help_word} for help, {stop} to stop."
            started_categories: "{brand}: {categories} texts again. Reply {stop} {category_words} to stop."
            help: "{brand}: help at {help}. Reply {stop} to stop."
          email:
            stopped_all: {subject: "Unsubscribed", body: "No more email from {brand}. You still get {still_sent}."}
            stopped_categories: {subject: "No more {categories}", body: "Reply {start} {category_words} to undo."}
            started_all: {subject: "Subscribed", body: "Email from {brand} again. Reply {stop} to stop."}
            started_categories: {subject: "{categories} again", body: "Reply {stop} {category_words} to stop."}
        still_sent: receipts
        page: {title: "{brand}", intro: "For {address}", keep: "Keep", everything: "Everything", save: "Save",
               saved_title: "Saved", stopped_all: "No more from {brand}", stopped: "No more: {categories}",
               continuing: "Still: {categories}", nothing_stopped: "Nothing", undo: "Come back", bad_link_title: "Bad",
               bad_link: "Reply STOP. {help}", one_click_done: "Done", focus: "You get {categories}",
               focus_button: "Stop {categories}", change_again: "Change", one_click_replayed: "Old link",
               other_categories: "Only {categories}"}
    """)


def broken(old: str, new: str) -> bytes:
    assert old in VALID, old
    return VALID.replace(old, new, 1).encode()


def with_block(lines: str) -> bytes:
    """The valid file with `lines` added to the language after its joiners (from line 15 on)."""
    return broken("    joiners: [and]\n", "    joiners: [and]\n" + lines)


def test_the_minimal_file_is_valid():
    table = parse_keywords(VALID.encode())
    assert table.render("sms", "stopped_categories", "en", ("surveys",)) == (
        "Acme: no more surveys texts. Reply START SURVEYS to undo.")
    assert table.render_email("stopped_all", "en") == (
        "Unsubscribed", "No more email from Acme. You still get receipts.")


@pytest.mark.parametrize("raw, line, message", [
    (broken("start: [start]", "start: [start, end]"), 10, "'end' is also under languages.en.stop_weak"),
    (broken("help: [help]", "help: [help, survey]"), 12, "is also under categories.surveys.en"),
    (broken("Reply {start} to undo.", "Reply {start_word} to undo."), 17, "unknown placeholder {start_word}"),
    (broken("Reply {start} to undo.", "Reply {start to undo."), 17, "broken placeholder"),
    (broken("{brand}: help at {help}. Reply {stop} to stop.", "{brand}: " + "x" * 160), 21,
     "does not fit one SMS: 166 characters in GSM-7 (limit 160)"),
    (broken("{brand}: help at {help}. Reply {stop} to stop.", "{brand}: ça " + "x" * 65), 21,
     "in UCS-2 (limit 70)"),
    (broken("Reply {start} to undo.", "Reply \u201c{start}\u201d to undo."), 17, "force UCS-2"),
    (broken('start_if_stopped: ["yes"]', "start_if_stopped: [yes]"), 11, "was read as true/false"),
    (broken("    replies:\n      sms:", "    answers:\n      sms:"), 7, "has no replies"),
    (broken("      sms:\n", "      email:\n"), 15, "has no sms replies"),
    (broken("        help: \"{brand}: help at {help}. Reply {stop} to stop.\"\n", ""), 16, "help: must be"),
    (broken("    en: [surveys, survey]", "    fr: [sondages]"), 5, "has no names in 'en'"),
    (broken("    en: [surveys, survey]", "    en: []"), 5, "surveys.en: must list at least one name"),
    (broken("    en: [surveys, survey]", "    en: ~"), 5, "surveys.en: must list at least one name"),
    (broken("    stop: [stop, opt out]\n", ""), 7, "has no stop list"),
    (broken("    still_sent: receipts\n", ""), 7, "still_sent: must be a non-empty text"),
    (broken('body: "Reply {start} {category_words} to undo."', 'text: "x"'), 24, "stopped_categories.body: must be"),
    (broken("      email:", "      mail:"), 15, "has no email replies"),
    (broken('intro: "For {address}"', 'intro: "For {email}"'), 28, "page.intro: unknown placeholder {email}"),
    (broken('save: "Save",', ''), 28, "page.save: must be a non-empty text"),
    (with_block("    requests:\n      verbs: [take off ...]\n      objects: [me]\n"), 16,
     "'take off ...': write the words before and after the object around one"),
    (with_block("    requests:\n      verbs: [take ... off ... now]\n      objects: [me]\n"), 16, "around one ..."),
    (with_block("    requests:\n      verbs: [erase]\n"), 15, "has verbs but no objects"),
    (with_block("    requests:\n      wants: [don't want]\n      objects: [me]\n"), 15, "has wants but no unwanted"),
    (with_block("    requests:\n      nouns: [me]\n"), 16,
     "nouns: is not a list this block knows (verbs, objects, wants, unwanted, negations)"),
    (with_block("    requests: [erase, me]\n"), 15, "requests: must be a mapping with the lists verbs, objects"),
    (with_block("    requests:\n      verbs: [erase]\n      objects: [me, \"!!\"]\n"), 17,
     "objects.1: must be a word or phrase"),
    (with_block("    stop_in_sentences:\n      words: [end]\n"), 16,
     "'end' is not one of languages.en.stop: only a stop word is read with its neighbours"),
    (with_block("    stop_in_sentences:\n      words: [stop]\n      other_verb_endings: [\"-ing\"]\n"), 17,
     "must be letters only"),
    (with_block("    stop_in_sentences:\n      words: [stop]\n      not_after: [by, off]\n"), 17,
     "was read as true/false"),
    (broken("brand: Acme", "brand: ''"), 1, "brand: must be a non-empty text"),
    (broken("brand: Acme", "brand: Acme\ncolour: blue"), 2, "colour: is not a setting"),
    (broken("brand: Acme", "brand: [Acme"), None, "not valid YAML"),
    (broken("    still_sent: receipts", "    still_sent: receipts\n    descriptions: {polls: Now and then}"), 28,
     "descriptions.polls: 'polls' is not one of the categories (surveys)"),
    (broken("    still_sent: receipts", "    still_sent: receipts\n    descriptions: {surveys: ''}"), 28,
     "descriptions.surveys: must be a non-empty text"),
    (broken("    still_sent: receipts", "    still_sent: receipts\n    descriptions: {surveys: 'For {brand}'}"), 28,
     "a description takes no placeholders"),
    (broken("    still_sent: receipts", "    still_sent: receipts\n    descriptions: surveys"), 28,
     "must map each category to a short description"),
    (broken("brand: Acme", "brand: Acme\nlogo_url: http://cdn.acme.example/logo.png"), 2, "must be an https:// URL"),
    (broken("brand: Acme", "brand: Acme\nlogo_url: https://x.example/a.svg\"onload=x"), 2,
     "must be an https:// URL"),
    (broken("brand: Acme", "brand: Acme\naccent_colour: teal"), 2, "must be a colour written #rrggbb"),
    (broken("brand: Acme", "brand: Acme\naccent_colour: '#0b6e4f; color: red'"), 2, "must be a colour"),
    (b"\xff\xfe", None, "not UTF-8"),
    (broken("brand: Acme", "brand: Acme\nambiguous: maybe"), 2, "'maybe' is not a choice for unsure messages"),
    (broken("brand: Acme", "brand: Acme\nambiguous: ask"), 17, "has no ask reply: with ambiguous: ask"),
    (broken("brand: Acme", "brand: Acme\nambiguous: ask").replace(b"      email:", b"        ask: \"{brand}: "
                                                                  + b"x" * 160 + b"\"\n      email:"), 23,
     "sms.ask: does not fit one SMS"),
    (broken("      email:", "        asks: \"Sure?\"\n      email:"), 22,
     "asks: is not a reply this service sends (stopped_all, stopped_categories, started_all, started_categories, "
     "help, ask)"),
])
def test_a_broken_file_names_the_line_and_the_problem(raw, line, message):
    with pytest.raises(KeywordFileError) as error:
        parse_keywords(raw)
    problems = "\n".join(error.value.problems)
    assert message in problems
    if line is not None:
        assert f"line {line}," in problems


@pytest.mark.parametrize("text, action, rule", [
    ("scrub my number", "opt_out", "request"),
    ("scrub the floor", "none", "no_match"),
    ("I couldn't stop crying", "none", "stop_word_in_idiom"),
    ("stop it", "opt_out", "leading_keyword"),
])
def test_an_operators_requests_and_idioms_are_understood_without_code(text, action, rule):
    table = parse_keywords(with_block("    requests:\n      verbs: [scrub]\n      objects: [my number]\n"
                                      "    stop_in_sentences:\n      words: [stop]\n      aimed: [it]\n"
                                      "      not_before: [couldn't]\n"))
    decision = classify(text, table)
    assert (decision.action, decision.rule) == (action, rule)


def test_every_problem_is_reported_at_once():
    raw = broken("start: [start]", "start: [start, end]").replace(b"{start} to undo", b"{nope} to undo")
    with pytest.raises(KeywordFileError) as error:
        parse_keywords(raw)
    assert len(error.value.problems) == 2


def test_the_service_refuses_to_start_on_a_broken_file(settings, tmp_path):
    path = tmp_path / "keywords.yaml"
    path.write_bytes(broken("start: [start]", "start: [start, end]"))
    with pytest.raises(SystemExit, match=r"^Not serving: keywords.yaml cannot be used: .*keywords.yaml:10: "
                                         r"languages.en.start.1: 'end' is also under"):
        create_app({**settings, "KEYWORDS_PATH": str(path)})  # one line saying where, not a traceback


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(KeywordFileError, match="cannot read the file"):
        load_keywords(str(tmp_path / "missing.yaml"))

# HANG only bounds a hang: check-keywords trains the model (about 10 s alone, 89 s measured with the
# machine's load at 15), and a busy machine must not fail the test.


def run_flask(*args, env_path):
    env = {"PATH": "/usr/bin:/bin", "KEYWORDS_PATH": str(env_path), "DATABASE_PATH": str(env_path) + ".db"}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=HANG)


def test_check_keywords_command_exits_non_zero_and_names_the_problem(tmp_path):
    path = tmp_path / "keywords.yaml"
    path.write_bytes(broken("Reply {start} to undo.", "Reply {start_word} to undo."))
    result = run_flask("check-keywords", env_path=path)
    assert result.returncode == 1
    assert "line 17" in result.stderr and "unknown placeholder {start_word}" in result.stderr


def test_check_keywords_command_passes_on_the_shipped_file():
    result = run_flask("check-keywords", env_path=ROOT / "keywords.yaml")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "1 segment" in result.stdout
    assert "request verbs and wants, 5 stop words read with their neighbours" in result.stdout
    assert "unsure messages (ambiguous: opt_out): opted out and flagged for review" in result.stdout


def test_every_shipped_reply_fits_one_sms_without_lookalike_characters():
    table = load_keywords(str(ROOT / "keywords.yaml"))
    for code, language in table.languages.items():
        for kind in language.replies["sms"]:
            text = table.render("sms", kind, code, table.categories)
            assert sms_segments(text) == 1, (code, kind, text)
            # GSM-7 wherever it can be: a UCS-2 reply is allowed only for an unavoidable letter.
            assert sms_encoding(text)[0] == "GSM-7", (code, kind, text)


@pytest.mark.parametrize("raw, warning", [
    (VALID.encode(), "carrier keyword QUIT is not in the table"),
    (broken('start_if_stopped: ["yes"]', 'start_if_stopped: ["oui"]').replace(b"help: [help]", b'help: [help, "yes"]'),
     "carrier keyword YES means help here (languages.en.help) but opt_in to carriers"),
    (broken("en: [surveys, survey]", "en: [surveys, info]"), "carrier keyword INFO is a category name (surveys)"),
])
def test_warnings_about_carrier_words(raw, warning):
    from handlers.core.keyword_lint import warnings
    assert any(warning in w for w in warnings(parse_keywords(raw)))


def test_the_shipped_file_reads_every_carrier_word_as_carriers_do():
    from handlers.core.keyword_lint import warnings
    table = load_keywords(str(ROOT / "keywords.yaml"))
    assert [w for w in warnings(table) if w.startswith("carrier")] == []
    [shared] = [w for w in warnings(table) if w.startswith("keywords shared")]
    assert "stop (en es fr de pt it nl)" in shared


def test_check_keywords_prints_warnings_and_still_passes():
    result = run_flask("check-keywords", env_path=ROOT / "keywords.yaml")
    assert result.returncode == 0 and "warning: keywords shared by several languages" in result.stderr


@pytest.mark.parametrize("text, why", [
    ("Can you stop?", "the stop word 'stop' (en) inside a longer message"),
    ("please remove me from your list", "contains the phrase 'remove me from your list' (en)"),
    ("hello", "no keyword, phrase or reaction"),
    ("unsubscirbe", "a misspelling of the keyword 'unsubscribe' (en), and no word of its own"),
    ("get me off your list", "asks in other words: the request verb and object 'get ... off + me' (en)"),
    ("I couldn't stop crying", "the stop word 'stop' (en) is part of an idiom here"),
])
def test_classify_command_explains_the_decision(settings, make_app, text, why):
    """In this process (the check-keywords tests above run the real command in its own)."""
    import json
    app = make_app(settings)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["classify", text])
    assert result.exit_code == 0, result.output
    assert why in json.loads(result.stdout)["why"]


def test_a_category_description_in_every_category_or_none():
    two = VALID.replace("  surveys:\n    en: [surveys, survey]",
                        "  surveys:\n    en: [surveys, survey]\n  promotions:\n    en: [promos]")
    described = two.replace("    still_sent: receipts",
                            "    still_sent: receipts\n    descriptions: {surveys: Monthly}")
    assert described != two
    with pytest.raises(KeywordFileError, match="has no description of 'promotions'"):
        parse_keywords(described.encode())
    assert parse_keywords(two.encode()).languages["en"].descriptions == {}


def test_page_texts_of_earlier_versions_are_tolerated():
    old = VALID.replace('one_click_done: "Done",', 'one_click_done: "Done", receiving: "on",')
    table = parse_keywords(old.encode())
    assert "receiving" not in table.languages["en"].page


# Grammar that depends on the brand: for each shipped language, forms that are wrong before a brand
# starting with a vowel. A language added to keywords.yaml must be added here, with its own.
WRONG_BEFORE_VOWEL = {
    "en": r"\ba {brand}",
    "es": r"\b(de|a) el {brand}",
    "fr": r"\b(de|que|le|la|ce|je|ne|se) {brand}",
    "de": r"\b(von|an|zu) dem {brand}",
    "pt": r"\b(de|em) (o|a) {brand}",
    "it": r"\b(lo|la) {brand}",
    "nl": r"\b(van|aan) de {brand}",
}
SHIPPED = (ROOT / "keywords.yaml").read_text()


def every_text(table, code) -> list[str]:
    """Every reply, email and page text of one language, with {brand} and the other placeholders filled."""
    lang = table.languages[code]
    texts = [table.render("sms", kind, code, table.categories[:1]) for kind in lang.replies["sms"]]
    texts += [table.render("email", kind, code, table.categories[:1]) for kind in lang.replies["email"]]
    values = {"brand": table.brand, "address": "p•••@example.org", "categories": "x", "still_sent": "y", "help": "z"}
    return texts + [text.format(**values) for text in lang.page.values()]


@pytest.mark.parametrize("brand", ["Acme Outfitters", "Orchard & Co", "Émile", "Ulysse"])
@pytest.mark.parametrize("code", sorted(WRONG_BEFORE_VOWEL))
def test_texts_follow_each_languages_grammar_before_a_brand_starting_with_a_vowel(tmp_path, code, brand):
    path = tmp_path / "keywords.yaml"
    path.write_text(SHIPPED.replace("brand: Acme Outfitters", f"brand: {brand}", 1))
    table = load_keywords(str(path))
    assert set(table.languages) == set(WRONG_BEFORE_VOWEL), "a new language needs its grammar checked here"
    wrong = re.compile(WRONG_BEFORE_VOWEL[code].format(brand=re.escape(brand)), re.I)
    for text in every_text(table, code):
        assert not wrong.search(text), text


def test_french_elides_before_a_vowel_and_not_before_a_consonant(tmp_path):
    for brand, title in (("Acme Outfitters", "Vos messages d'Acme Outfitters"),
                         ("Boulanger", "Vos messages de Boulanger"), ("Hermès", "Vos messages de Hermès")):
        path = tmp_path / "keywords.yaml"
        path.write_text(SHIPPED.replace("brand: Acme Outfitters", f"brand: {brand}", 1))
        assert load_keywords(str(path)).languages["fr"].page["title"].format(brand=brand) == title


def with_lists(lists: str, category: str = "surveys") -> bytes:
    """VALID with `lists` (YAML lines) under categories.<category>."""
    raw = VALID.replace("\n  surveys:\n", f"\n  {category}:\n{textwrap.indent(lists, '    ')}", 1)
    return raw.encode()


@pytest.mark.parametrize("lists, message", [
    ("lists: {sendgrid: [12345], mailgun: [surveys], postmark: [surveys-stream]}\n", None),
    ("lists: {sendgrid: [surveys]}\n", "lists.sendgrid.0: 'surveys' is not one of unsubscribe group ids"),
    ("lists: {sendgrid: [0]}\n", "is not one of unsubscribe group ids"),
    ("lists: {mailgun: [12]}\n", "mailgun.0: 12 is not one of tags"),
    ("lists: {mailjet: [x]}\n", "'mailjet' is not a provider with lists (sendgrid, mailgun, postmark)"),
    ("lists: {postmark: []}\n", "postmark: must be a list of message stream ids"),
    ("lists: [sendgrid]\n", "lists: must map providers to their lists"),
])
def test_category_lists_are_checked(lists, message):
    if message is None:
        table = parse_keywords(with_lists(lists))
        assert {p: dict(m) for p, m in table.provider_lists.items()} == {
            "sendgrid": {"12345": "surveys"}, "mailgun": {"surveys": "surveys"},
            "postmark": {"surveys-stream": "surveys"}}
        assert table.lists_of("sendgrid", ("surveys",)) == ("12345",) and table.lists_of("sendgrid", ("x",)) == ()
        return
    with pytest.raises(KeywordFileError) as error:
        parse_keywords(with_lists(lists))
    assert message in "\n".join(error.value.problems)


def test_a_provider_list_belongs_to_one_category_only():
    raw = VALID.replace("\n  surveys:\n    en: [surveys, survey]\n",
                        "\n  surveys:\n    lists: {mailgun: [news]}\n    en: [surveys, survey]\n"
                        "  news:\n    lists: {mailgun: [news]}\n    en: [news]\n")
    with pytest.raises(KeywordFileError) as error:
        parse_keywords(raw.encode())
    assert "mailgun list 'news' is also under categories.surveys" in "\n".join(error.value.problems)


def test_check_keywords_prints_the_provider_lists(tmp_path):
    path = tmp_path / "keywords.yaml"
    path.write_bytes(with_lists("lists: {sendgrid: [12345], mailgun: [surveys]}\n"))
    result = run_flask("check-keywords", env_path=path)
    assert result.returncode == 0, result.stderr
    assert "sendgrid lists: 12345 -> surveys" in result.stdout and "mailgun lists: surveys -> surveys" in result.stdout


TWO_CATEGORIES = VALID.replace("\n  surveys:\n    en: [surveys, survey]\n",
                               "\n  surveys:\n<surveys>    en: [surveys, survey]\n"
                               "  promos:\n<promos>    en: [promos]\n")


@pytest.mark.parametrize("surveys, promos, message", [
    ("    phrases: {en: surveys}\n", "    phrases: {en: promotional offers}\n", None),
    ("", "", None),  # a file of an earlier version: replies name categories by their first name
    ("    phrases: {en: surveys}\n", "", "categories: promos has no phrase in 'en': give every category a phrase"),
    ("    phrases: {fr: sondages}\n", "", "categories.surveys.phrases.fr: 'fr' is not one of the languages (en)"),
    ("    phrases: {en: ''}\n", "    phrases: {en: offers}\n", "surveys.phrases.en: must be a non-empty text"),
    ("    phrases: {en: '{brand} surveys'}\n", "    phrases: {en: offers}\n", "a phrase takes no placeholders"),
    ("    phrases: {en: \u201csurveys\u201d}\n", "    phrases: {en: offers}\n",
     "phrases.en: uses characters that force"),
    ("    phrases: [surveys]\n", "", "surveys.phrases: must map each language code to how replies name"),
    ("    phrases: {en: surveys}\n", "    phrases: {en: " + "o" * 120 + "}\n",
     "started_categories: does not fit one SMS"),
])
def test_category_phrases_are_checked(surveys, promos, message):
    raw = TWO_CATEGORIES.replace("<surveys>", surveys).replace("<promos>", promos).encode()
    if message is not None:
        with pytest.raises(KeywordFileError) as error:
            parse_keywords(raw)
        assert message in "\n".join(error.value.problems)
        return
    table = parse_keywords(raw)
    expected = ("surveys and promotional offers texts" if promos else "surveys and promos texts")
    assert table.render("sms", "stopped_categories", "en", ("surveys", "promos")) == (
        f"Acme: no more {expected}. Reply START SURVEYS PROMOS to undo.")


SHIPPED_TABLE = load_keywords(str(ROOT / "keywords.yaml"))


@pytest.mark.parametrize("code, category", [(c, k) for c in SHIPPED_TABLE.languages
                                             for k in SHIPPED_TABLE.categories])
@pytest.mark.parametrize("kind", ["stopped_categories", "started_categories"])
def test_shipped_replies_name_each_category_by_its_phrase(code, category, kind):
    language = SHIPPED_TABLE.languages[code]
    phrase, name = language.category_phrases[category], language.category_names[category]
    sms = SHIPPED_TABLE.render("sms", kind, code, (category,))
    subject, body = SHIPPED_TABLE.render_email(kind, code, (category,))
    for text in (sms, subject, body):
        assert phrase in text, (code, kind, text)
        for bare in (f"{name} texts", f"{name} emails"):
            assert bare not in text, (code, kind, text)
    assert name.upper() in sms  # what to send back is still the name
