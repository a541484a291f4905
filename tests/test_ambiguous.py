"""`ambiguous: ask` in keywords.yaml: an unsure opt-out (flagged for review) is asked one question in
the person's language and changes nothing until they answer; at most one question a day a number."""

import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT, reply, twilio_params, twilio_post

from handlers.core.intake import handle

pytestmark = pytest.mark.backends("sqlite", "postgresql")

SENDER = "+14155550100"
QUESTIONS = {
    "en": "Acme Outfitters: Did you want to stop our texts? Reply STOP to confirm.",
    "es": "Acme Outfitters: ¿Quieres dejar de recibir nuestros mensajes? Responde STOP para confirmarlo.",
    "fr": "Acme Outfitters: Voulez-vous ne plus recevoir nos SMS? Répondez ARRET pour confirmer.",
    "de": "Acme Outfitters: Möchten Sie keine SMS mehr von uns erhalten? Antworten Sie STOPP zur Bestätigung.",
    "pt": "Acme Outfitters: Deseja parar de receber nossas mensagens? Responda STOP para confirmar.",
    "it": "Acme Outfitters: Vuoi smettere di ricevere i nostri SMS? Rispondi STOP per confermare.",
    "nl": "Acme Outfitters: Wil je geen berichten meer van ons ontvangen? Antwoord STOP om te bevestigen.",
}


@pytest.fixture(params=["ask", "opt_out"])
def choice(request):
    return request.param


@pytest.fixture
def service(settings, make_app, tmp_path, choice):
    path = tmp_path / "keywords.yaml"
    path.write_text((ROOT / "keywords.yaml").read_text().replace("ambiguous: opt_out", f"ambiguous: {choice}", 1))
    app = make_app({**settings, "KEYWORDS_PATH": str(path)})
    app.config["TESTING"] = True
    return app


def answers(client, text):
    response = twilio_post(client, twilio_params(text, SENDER))
    assert response.status_code == 200, response.data
    return [m.text for m in ET.fromstring(response.data).iter("Message")]


def consent(db):
    return dict(db.execute("SELECT scope, status FROM consent WHERE address = ?", (SENDER,)).fetchall())


def last_message(db):
    return db.execute("SELECT action, rule, flagged, reply FROM messages ORDER BY id DESC LIMIT 1").fetchone()


@pytest.mark.parametrize("text, language, rule", [
    ("can you stop", "en", "stop_word_in_message"),
    ("sotp", "en", "keyword_typo"),
    ("desuscrbirme", "es", "keyword_typo"),
    ("arrett", "fr", "keyword_typo"),
    ("abmleden", "de", "keyword_typo"),
    ("descadastar", "pt", "keyword_typo"),
    ("disicrivimi", "it", "keyword_typo"),
    ("afmleden", "nl", "keyword_typo"),
])
def test_an_unsure_opt_out_is_asked_in_the_persons_language_and_changes_nothing(service, db, choice, text,
                                                                                 language, rule):
    got = answers(service.test_client(), text)
    message = last_message(db)
    if choice == "opt_out":  # the default: as before, opted out and flagged
        assert consent(db) == {"*": "out"} and message["action"] == "opt_out" and got != [QUESTIONS[language]]
        return
    assert got == [QUESTIONS[language]]
    assert consent(db) == {}
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    assert (message["action"], message["rule"], message["flagged"], message["reply"]) == (
        "asked", rule, 1, QUESTIONS[language])


@pytest.mark.parametrize("choice", ["ask"], indirect=True)
def test_asked_at_most_once_a_day_and_a_plain_stop_still_opts_out(service, db):
    client = service.test_client()
    assert answers(client, "can you stop") == [QUESTIONS["en"]]
    assert answers(client, "sotp") == []  # asked already today: no second question
    assert (last_message(db)["action"], last_message(db)["flagged"]) == ("none", 1)
    assert consent(db) == {}

    store = service.extensions["optout"].store
    store.write(lambda conn: conn.execute("UPDATE messages SET received_at = ?", ("2020-01-01T00:00:00+00:00",)))
    assert answers(client, "sotp") == [QUESTIONS["en"]]  # a day later, asked again

    [confirmed] = answers(client, "STOP")  # the answer is a whole-message keyword: sure, opted out
    assert "no more texts" in confirmed and consent(db) == {"*": "out"}
    assert answers(client, "can you stop") == []  # nothing left to change, nothing to ask


@pytest.mark.parametrize("choice", ["ask"], indirect=True)
def test_sure_messages_and_email_replies_are_not_asked(service, db):
    client = service.test_client()
    assert "no more texts" in answers(client, "Stop sending me these")[0]  # leading_keyword: not flagged
    services = service.extensions["optout"]
    recorded = handle(reply("can you stop"), services.keywords, services.store)  # email keeps opt_out
    assert recorded.transition.action == "opt_out" and recorded.rule == "stop_word_in_message"


def test_the_dashboard_lists_asked_messages_in_plain_words(service, choice):
    from test_admin import login

    client = service.test_client()
    answers(client, "can you stop")
    assert login(client).status_code == 303
    page = client.get("/admin?action=asked")
    assert page.status_code == 200
    listed = "Asked whether they meant to stop" in page.text
    assert listed is (choice == "ask")
