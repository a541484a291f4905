"""Understanding, second round, as tables: typos of keywords, requests built from a verb and its
object, and stop words inside idioms (which opt nobody out). Every typo and request row, and 44 of the 49 idioms,
failed with the classifier before this change; the other tables guard against the new rules going too far."""

from pathlib import Path

import pytest
from conftest import ROOT

from handlers.core.classifier import classify, explain
from handlers.core.keyword_file import load_keywords

TABLE = load_keywords(str(ROOT / "keywords.yaml"))

# (message, the keyword it was taken for): one edit for keywords of 4-6 letters, two beyond; letters
# spaced or dotted out; a letter repeated. Opted out, flagged for review.
TYPOS = [
    ('Sto p', 'stop'), ('unsubscirbe', 'unsubscribe'), ('unsusbcribe', 'unsubscribe'), ('s-t-o-p', 'stop'),
    ('stoooooop', 'stop'), ('cancell', 'cancel'), ('STOPPALL', 'stopall'), ('optuot', 'opt out'),
    ('S.T.O.P.', 'stop'), ('s t o p', 'stop'), ('sotp', 'stop'), ('STOOOP!!', 'stop'), ('unsubscrbe', 'unsubscribe'),
    ('unsubcribe', 'unsubscribe'), ('unsubscibe', 'unsubscribe'), ('unsubsribe', 'unsubscribe'),
    ('unsuscribe', 'unsubscribe'), ('unsubscribr', 'unsubscribe'), ('unsubscirbe!', 'unsubscribe'),
    ('UNSUBSRCIBE', 'unsubscribe'), ('cancle', 'cancel'), ('cancl', 'cancel'), ('revok', 'revoke'),
    ('revoek', 'revoke'), ('o p t o u t', 'opt out'), ('optoutt', 'opt out'), ('stopal', 'stopall'),
    ('stoppp', 'stop'), ('Stooop.', 'stop'), ('unsubb', 'unsub'), ('u-n-s-u-b', 'unsub'), ('c a n c e l', 'cancel'),
    ('qiut', 'quit'), ('desuscrbirme', 'desuscribirme'), ('desuscribrime', 'desuscribirme'),
    ('desinscibir', 'desinscribir'), ('desucribir', 'desuscribir'), ('altooo', 'alto'),
    ('desapuntarm', 'desapuntarme'), ('detenre', 'detener'), ('terminarr', 'terminar'), ('arrett', 'arret'),
    ('desabonnner', 'desabonner'), ('desinscrir', 'desinscrire'), ('dasabonner', 'desabonner'),
    ('désabonement', 'desabonnement'), ('desinscriptoin', 'desinscription'), ('a-r-r-e-t', 'arret'),
    ('resillier', 'resilier'), ('abmleden', 'abmelden'), ('abbestelen', 'abbestellen'), ('austargen', 'austragen'),
    ('abmeldn', 'abmelden'), ('abbstellen', 'abbestellen'), ('abmeldunng', 'abmeldung'), ('kundigenn', 'kundigen'),
    ('aufhroen', 'aufhoren'), ('descadastar', 'descadastrar'), ('descadatrar', 'descadastrar'),
    ('desinscrver', 'desinscrever'), ('descadastroo', 'descadastro'), ('encerar', 'encerrar'),
    ('remvoer', 'remover'), ('disiscrivimii', 'disiscrivimi'), ('disicrivimi', 'disiscrivimi'),
    ('disiscrivmi', 'disiscrivi'), ('dsiscrivimi', 'disiscrivimi'), ('disiscrizoine', 'disiscrizione'),
    ('cancellamii', 'cancellami'), ('smettilaa', 'smettila'), ('afmleden', 'afmelden'),
    ('uitschrijvn', 'uitschrijven'), ('afmeldne', 'afmelden'), ('uitshcrijven', 'uitschrijven'),
    ('afmeldng', 'afmelding'), ('uitschrjiving', 'uitschrijving'), ('verwijdren', 'verwijderen'),
]

# (message, categories): a misspelt keyword followed only by category names.
TYPOS_WITH_CATEGORIES = [
    ('unsubscirbe surveys', 'surveys'), ('stooop promos', 'promotions'), ('cancell newsletter', 'newsletter'),
    ('desuscrbirme encuestas', 'surveys'), ('desabonnner promos', 'promotions'), ('abmleden Umfragen', 'surveys'),
    ('descadastar pesquisas', 'surveys'), ('disiscrivimii sondaggi', 'surveys'),
    ('afmleden nieuwsbrief', 'newsletter'), ('unsusbcribe surveys and promos', 'surveys promotions'),
]

# Words of a shipped language, other keywords' neighbours, or as close to START as to a stop word:
# never taken for a typo.
NOT_TYPOS = [
    'shop', 'step', 'spot', 'stoep', 'stoop', 'top', 'stops', 'stopt', 'sto', 'alta', 'store', 'stove', 'stomp',
    'cancer', 'quite', 'quiet', 'suit', 'revoked', 'remote', 'removed', 'para', 'fino', 'strat', 'stat', 'hlep',
    'starrt', 'helpp', 'stoop promos', 'unsubscirbe me please', 'is top', 'Stand', 'spots', 'stoel', 'steps',
    'shops', 'atop', 'sito', 'ende gut', 'the end', 'finn', 'arre', 'tops', 'usubscribe', 'kündigt', 'stört',
    'stock', 'stor',
]

# (message, language): a request verb followed closely by an object about us or our messages.
REQUESTS = [
    ('get me off your list', 'en'), ('erase my number', 'en'), ("don't want any more of these", 'en'),
    ('count me out', 'en'), ('Please delete my number', 'en'), ('remove my number from your list', 'en'),
    ('take my number off your list', 'en'), ('can you take me off this list', 'en'),
    ('get me off this list please', 'en'), ('erase me from your database', 'en'), ('delete my details', 'en'),
    ("I don't want your texts anymore", 'en'), ('I do not want these messages', 'en'),
    ('I dont want texts from you', 'en'), ('cross me off', 'en'), ('count me out of this', 'en'),
    ('cancel the subscription please', 'en'), ('take off my number', 'en'), ('drop me from the list', 'en'),
    ('unlist me', 'en'), ('I no longer want these emails', 'en'), ('Delete my email address from your system', 'en'),
    ('basta de mensajes', 'es'), ('cancelar la suscripción', 'es'), ('quítenme de su lista por favor', 'es'),
    ('borren mi número', 'es'), ('sáquenme de esta lista', 'es'), ('borrar mi número', 'es'),
    ('ya no quiero sus mensajes', 'es'), ('no quiero correos', 'es'), ('anulen mi suscripción', 'es'),
    ('cancelen la suscripcion', 'es'), ('quiten mi número', 'es'), ('basta de sms', 'es'),
    ('no deseo más mensajes', 'es'), ('annulez mon abonnement', 'fr'), ('supprimez-moi', 'fr'),
    ('effacez-moi de votre liste', 'fr'), ('retirez mon numéro', 'fr'), ('enlevez-moi de la liste', 'fr'),
    ('je ne veux plus de vos sms', 'fr'), ('annuler mon inscription', 'fr'), ('sortez-moi de votre liste', 'fr'),
    ('je ne souhaite plus vos messages', 'fr'), ('radiez mon numéro', 'fr'), ('supprimer mon abonnement svp', 'fr'),
    ('je ne veux plus vos emails', 'fr'), ('nehmt mich aus eurer Liste', 'de'), ('streicht meine Nummer', 'de'),
    ('löscht meine Daten', 'de'), ('kündige mein Abo', 'de'), ('entfernt mich bitte', 'de'),
    ('ich will eure SMS nicht mehr', 'de'), ('ich möchte keine Werbung', 'de'), ('Tragt mich aus', 'de'),
    ('nimm mich aus der Liste', 'de'), ('kündigt den Newsletter', 'de'), ('wir wollen keine Mails', 'de'),
    ('Bitte löschen Sie meine Handynummer', 'de'), ('cancelem a inscrição', 'pt'),
    ('cancelar minha assinatura', 'pt'), ('apaguem meu número', 'pt'), ('remova meu número', 'pt'),
    ('excluam meu numero', 'pt'), ('não quero essas mensagens', 'pt'), ('nao quero e-mails', 'pt'),
    ('retirem meu número', 'pt'), ('cancele a assinatura', 'pt'), ('apague meu número por favor', 'pt'),
    ("annulla l'iscrizione", 'it'), ('cancellate la mia iscrizione', 'it'), ('toglimi dalla vostra lista', 'it'),
    ('eliminami dalla lista', 'it'), ('rimuovi il mio numero', 'it'), ("disdici l'abbonamento", 'it'),
    ('non voglio questi messaggi', 'it'), ('annullate il mio abbonamento', 'it'), ('disattivate gli sms', 'it'),
    ('haal mij uit het bestand', 'nl'), ('verwijder mijn gegevens', 'nl'), ('haal me van jullie lijst', 'nl'),
    ('zeg mijn abonnement op', 'nl'), ('schrap mijn nummer', 'nl'), ('ik wil jullie berichten niet meer', 'nl'),
    ('wij willen geen berichten', 'nl'), ('wis mijn nummer', 'nl'), ('haal mij uit de lijst', 'nl'),
    ('verwijder mij alsjeblieft', 'nl'),
]

# The same verbs about something else, negated, or with a tail that is not the verb's.
NOT_REQUESTS = [
    'cancel my order', 'remove the charge', 'can you cancel my appointment', 'delete the photo', 'take a day off',
    'get off the bus', 'count me in', "I don't want to go", "I don't want pizza", 'I dont need you',
    'get me a coffee', 'take me home', 'erase the board', "please don't remove me",
    'NO GIFTS!! You trying to get me to throw myself off a cliff?', 'if u dont need me',
    'at the end my love compromised me', 'I want more texts like this', 'cancel dinner?', 'no quiero ir',
    'cancelar la cita', 'borra la foto', 'quita el cargo', 'no quiero nada', 'saca la basura', 'annuler ma commande',
    'supprimez la photo', 'je ne veux pas y aller', 'retire ton manteau', 'je ne veux plus te voir',
    'löscht das Foto', 'ich will das nicht mehr', 'nimm mich mit', 'entfernt den Fleck', 'kündige meinen Job',
    'cancelar o pedido', 'apague a luz', 'não quero ir', 'tira o lixo', 'remova a mancha', "annulla l'ordine",
    'togli le scarpe', 'non voglio uscire', 'elimina la foto', 'cancella la prenotazione', 'verwijder de foto',
    'haal me op van het station', 'ik wil geen koffie', 'ik wil je niet meer zien', 'haal mij op',
]

# A stop word whose neighbours make it an idiom: nobody is opted out.
IDIOMS = [
    "couldn't stop crying", 'last stop', 'hope the snow stops soon', 'stop at the bank first',
    'stop reading my mind!', 'I should stop eating sweets', 'the pain will stop on its own',
    "she won't stop calling everyone", "I can't stop thinking about you", 'we missed our stop',
    'next stop is Main St', 'the rain will stop by noon', 'I had to stop at the gas station', 'stop being silly',
    'stop worrying so much', "don't stop believing", "the bus didn't stop", "I'm gonna stop at Target",
    'this is my stop', 'a full stop', 'I need to stop eating junk', 'stop at nothing', 'cant stop laughing',
    'it will completely stop in a few days', 'Yup next stop.', 'Great comedy..cant stop laughing da:)',
    "I'll just wait for the rain to stop.", 'Stop knowing me so well!', "he's going to stop all your runs",
    'mins but i had to stop somewhere first.', 'Fuuuuck I need to stop sleepin, sup',
    "i'm sitting in a stop and shop parking lot", 'So i can stop thinkin about ipad',
    'And stop wondering if she is ever going to stop', "I won't stop till I find it", 'the first stop on the tour',
    'un arrêt cardiaque', 'prochain arrêt : Bastille', 'le dernier arrêt', 'nächster Stopp Berlin',
    'ein kurzer Stopp in Köln', 'der letzte Stopp', "please don't remove me", 'stop met roken',
    'Stop met lachen haha', 'volgende stop Utrecht', 'we maken een korte stop in Gent', 'un viaggio senza stop',
    'prossimo stop: Firenze',
]

# A stop word aimed at us, or standing as a sentence of its own: opted out.
AIMED = [
    'just stop it', 'omg stop with the texts', 'stop these texts', 'STOP. wrong person', 'ok stop',
    'I want you to stop', 'you guys need to stop', 'stop pls', 'can you stop sending these',
    'Seriously, stop. I never signed up', 'stop now', 'stop emailing me', 'stop bugging me', 'Arrêt des SMS svp',
    'Stopp bitte', 'STOP all of this', 'stop met die berichten', 'stop ermee', 'stop met jullie sms',
    'STOP. Verkeerd nummer', 'stop ai messaggi per favore', 'stop subito',
]


@pytest.mark.parametrize("text, matched", TYPOS)
def test_a_misspelt_keyword_opts_out_and_is_flagged(text, matched):
    decision = classify(text, TABLE)
    assert (decision.action, decision.rule, decision.matched, decision.flagged) == (
        "opt_out", "keyword_typo", matched, True)


@pytest.mark.parametrize("text, categories", TYPOS_WITH_CATEGORIES)
def test_a_misspelt_keyword_before_categories_stops_those_categories(text, categories):
    decision = classify(text, TABLE)
    assert (decision.action, decision.rule, " ".join(decision.categories)) == ("opt_out", "keyword_typo", categories)


@pytest.mark.parametrize("text", NOT_TYPOS)
def test_a_real_word_near_a_keyword_is_no_typo(text):
    decision = classify(text, TABLE)
    assert (decision.action, decision.rule) != ("opt_out", "keyword_typo")
    assert decision.action == "none"


@pytest.mark.parametrize("text, language", REQUESTS)
def test_a_request_verb_with_its_object_opts_out(text, language):
    decision = classify(text, TABLE)
    assert (decision.action, decision.rule, decision.language) == ("opt_out", "request", language)
    assert " + " in decision.matched and decision.matched in explain(decision)


@pytest.mark.parametrize("text", NOT_REQUESTS)
def test_the_same_verb_about_something_else_opts_nobody_out(text):
    assert classify(text, TABLE).action == "none"


@pytest.mark.parametrize("text", IDIOMS)
def test_a_stop_word_in_an_idiom_opts_nobody_out(text):
    assert classify(text, TABLE).action == "none"


@pytest.mark.parametrize("text", AIMED)
def test_a_stop_word_aimed_at_us_opts_out(text):
    assert classify(text, TABLE).action == "opt_out"


def test_person_to_person_texts_opt_nobody_out():
    # Texts between people, of the kinds a shared or recycled number receives (none asks anything of a
    # business); before this change 33 of them opted their sender out.
    texts = (Path(ROOT) / "tests" / "data" / "person_to_person.txt").read_text(encoding="utf-8").splitlines()
    opted = [t for t in texts if t.strip() and classify(t, TABLE).action == "opt_out"]
    assert len(texts) >= 100 and opted == []


def test_there_are_at_least_300_cases_across_the_seven_languages():
    languages = {language for _, language in REQUESTS}
    cases = (TYPOS, TYPOS_WITH_CATEGORIES, NOT_TYPOS, REQUESTS, NOT_REQUESTS, IDIOMS, AIMED)
    assert sum(map(len, cases)) >= 300 and languages == set(TABLE.languages)
