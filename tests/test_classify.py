"""How a reply is read, as tables: (text, action, categories, language, rule).

Actions: out = opt out, in = opt in, help, none. Categories: "" for everything, else space-separated.
Flagged-for-review cases are in their own table below.
"""

import pytest
from conftest import ROOT

from handlers.core import classifier
from handlers.core.classifier import classify
from handlers.core.keyword_file import load_keywords

TABLE = load_keywords(str(ROOT / "keywords.yaml"))
ACTIONS = {"out": "opt_out", "in": "opt_in", "help": "help", "none": "none"}

ENGLISH = [
    # 1. the whole message is an opt-out keyword
    ("STOP", "out", "", "en", "keyword"),
    ("Stop.", "out", "", "en", "keyword"),
    (" stop!! ", "out", "", "en", "keyword"),
    ("stop", "out", "", "en", "keyword"),
    ("'STOP'", "out", "", "en", "keyword"),
    ("STOP 🛑", "out", "", "en", "keyword"),
    ("STOPALL", "out", "", "en", "keyword"),
    ("STOP ALL", "out", "", "en", "keyword"),
    ("Unsubscribe", "out", "", "en", "keyword"),
    ("UNSUBSCRIBE!", "out", "", "en", "keyword"),
    ("opt out", "out", "", "en", "keyword"),
    ("opt-out", "out", "", "en", "keyword"),
    ("OPTOUT", "out", "", "en", "keyword"),
    ("Opt Out.", "out", "", "en", "keyword"),
    ("REVOKE", "out", "", "en", "keyword"),
    ("CANCEL", "out", "", "en", "keyword"),
    ("End", "out", "", "en", "keyword"),
    ("QUIT", "out", "", "en", "keyword"),
    ("quit.", "out", "", "en", "keyword"),
    ("remove me", "out", "", "en", "keyword"),
    ("unsub", "out", "", "en", "keyword"),
    # 2. an opt-out keyword and category names
    ("UNSUBSCRIBE SURVEYS", "out", "surveys", "en", "keyword_with_categories"),
    ("stop promotions", "out", "promotions", "en", "keyword_with_categories"),
    ("Stop promos", "out", "promotions", "en", "keyword_with_categories"),
    ("STOP SURVEYS AND PROMOS", "out", "surveys promotions", "en", "keyword_with_categories"),
    ("stop surveys, promos & newsletter", "out", "surveys promotions newsletter", "en", "keyword_with_categories"),
    ("STOP ALL PROMOS", "out", "promotions", "en", "keyword_with_categories"),
    ("cancel newsletter", "out", "newsletter", "en", "keyword_with_categories"),
    ("opt-out of the newsletter", "out", "newsletter", "en", "keyword_with_categories"),
    ("unsubscribe me from your surveys", "out", "", "en", "leading_keyword"),  # "me" is no category word
    ("end surveys", "out", "surveys", "en", "keyword_with_categories"),
    ("unsubscribe my feedback surveys", "out", "surveys", "en", "keyword_with_categories"),
    # 3. opt back in
    ("START", "in", "", "en", "keyword"),
    ("Start!", "in", "", "en", "keyword"),
    ("UNSTOP", "in", "", "en", "keyword"),
    ("subscribe", "in", "", "en", "keyword"),
    ("opt in", "in", "", "en", "keyword"),
    ("YES", "in", "", "en", "keyword"),
    ("Yes!", "in", "", "en", "keyword"),
    ("START SURVEYS", "in", "surveys", "en", "keyword_with_categories"),
    ("start promos and newsletter", "in", "promotions newsletter", "en", "keyword_with_categories"),
    # 4. help
    ("HELP", "help", "", "en", "keyword"),
    ("help?", "help", "", "en", "keyword"),
    ("INFO", "help", "", "en", "keyword"),
    ("support", "help", "", "en", "keyword"),
    # 5. starts with a stop word and goes on, or a configured phrase
    ("Stop sending me these", "out", "", "en", "leading_keyword"),
    ("STOP!! wrong number", "out", "", "en", "leading_keyword"),
    ("stop it please", "out", "", "en", "leading_keyword"),
    ("Unsubscribe me please", "out", "", "en", "leading_keyword"),
    ("opt me out... actually OPT OUT now", "out", "", "en", "stop_word_in_message"),
    ("please remove me from your list", "out", "", "en", "phrase"),
    ("Take me off your list.", "out", "", "en", "phrase"),
    ("no more texts", "out", "", "en", "phrase"),
    ("No more messages please", "out", "", "en", "phrase"),
    ("Please don't text me again", "out", "", "en", "phrase"),
    ("do not text me", "out", "", "en", "phrase"),
    ("who is this? wrong number", "out", "", "en", "phrase"),
    ("Leave me alone", "out", "", "en", "phrase"),
    ("I want to cancel my subscription", "out", "", "en", "phrase"),
    ("quit texting me", "out", "", "en", "phrase"),
    ("not interested, thanks", "out", "", "en", "phrase"),
    ("Please stop", "out", "", "en", "phrase"),
    # 6. a strong word elsewhere (flagged)
    ("Can you stop?", "out", "", "en", "stop_word_in_message"),
    ("I said STOP", "out", "", "en", "stop_word_in_message"),
    ("how do i unsubscribe", "out", "", "en", "stop_word_in_message"),
    ("I want to opt out", "out", "", "en", "stop_word_in_message"),
    ("I revoke my consent", "out", "", "en", "stop_word_in_message"),
    # 7. reactions quoting our message
    ("Liked “Flash sale today! Reply STOP to opt out”", "none", "", None, "reaction"),
    ("Loved “20% off everything. Reply STOP to unsubscribe”", "none", "", None, "reaction"),
    ('Laughed at "Reply STOP to opt out"', "none", "", None, "reaction"),
    ("Emphasized “Reply STOP to end”", "none", "", None, "reaction"),
    ("Questioned “Text STOP to quit”", "none", "", None, "reaction"),
    ("Disliked “Reply STOP to opt out”", "none", "", None, "reaction"),
    ('Reacted 👍 to "Reply STOP to opt out"', "none", "", None, "reaction"),
    ("Removed a like from “Reply STOP to opt out”", "none", "", None, "reaction"),
    # 8. near-misses: nobody is opted out
    ("Does the offer end today?", "none", "", "en", "weak_word_in_message"),
    ("I need to cancel my appointment", "none", "", "en", "weak_word_in_message"),
    ("Can I quit my plan and pick another?", "none", "", "en", "weak_word_in_message"),
    ("hello", "none", "", None, "no_match"),
    ("thanks!", "none", "", None, "no_match"),
    ("👍", "none", "", None, "no_match"),
    ("", "none", "", None, "no_match"),
    ("stopwatch on sale?", "none", "", None, "no_match"),
    ("Unstoppable deals!", "none", "", None, "no_match"),
    ("Let's top it up", "none", "", None, "no_match"),
    ("Is the store open on Sunday", "none", "", None, "no_match"),
    ("starting tomorrow?", "none", "", None, "no_match"),
    ("helpful, thanks", "none", "", None, "no_match"),
    ("Liked it a lot", "none", "", None, "no_match"),
    ("surveys", "none", "", None, "no_match"),
    ("yes please send the promo code", "none", "", None, "no_match"),
    ("information about my order", "none", "", None, "no_match"),
    ("Which bus stop is closest to the store?", "none", "", None, "no_match"),  # not_stop_phrases
    ("I'll stop by the store later", "none", "", None, "no_match"),
    ("Don't stop the deals!", "none", "", None, "no_match"),
    ("bus stop", "none", "", None, "no_match"),
    ("Stop. Bus stop ads are everywhere", "out", "", "en", "leading_keyword"),  # a real STOP still counts
    ("Liked it, can't wait", "none", "", None, "no_match"),  # a reaction word without a quote
]

SPANISH = [
    # 1. the whole message is an opt-out keyword (ALTO, BAJA, PARAR, CANCELAR are carrier-required)
    ("ALTO", "out", "", "es", "keyword"),
    ("¡Alto!", "out", "", "es", "keyword"),
    ("BAJA", "out", "", "es", "keyword"),
    ("baja.", "out", "", "es", "keyword"),
    ("PARAR", "out", "", "es", "keyword"),
    ("Cancelar", "out", "", "es", "keyword"),
    ("FIN", "out", "", "es", "keyword"),
    ("Detener", "out", "", "es", "keyword"),
    ("DESUSCRIBIR", "out", "", "es", "keyword"),
    ("desuscribirme", "out", "", "es", "keyword"),
    # 2. keyword and category names
    ("ALTO PROMOCIONES", "out", "promotions", "es", "keyword_with_categories"),
    ("Baja encuestas", "out", "surveys", "es", "keyword_with_categories"),
    ("STOP PUBLICIDAD", "out", "promotions", "es", "keyword_with_categories"),
    ("alto ofertas y encuestas", "out", "promotions surveys", "es", "keyword_with_categories"),
    ("Cancelar las noticias", "out", "newsletter", "es", "keyword_with_categories"),
    ("DESUSCRIBIRME DE TODAS LAS PROMOCIONES", "out", "promotions", "es", "keyword_with_categories"),
    # 3. opt back in
    ("COMENZAR", "in", "", "es", "keyword"),
    ("Empezar", "in", "", "es", "keyword"),
    ("reanudar", "in", "", "es", "keyword"),
    ("Sí", "in", "", "es", "keyword"),
    ("COMENZAR PROMOCIONES", "in", "promotions", "es", "keyword_with_categories"),
    ("Suscribirme a las ofertas", "in", "promotions", "es", "keyword_with_categories"),
    # 4. help
    ("AYUDA", "help", "", "es", "keyword"),
    ("¿Ayuda?", "help", "", "es", "keyword"),
    ("Información", "help", "", "es", "keyword"),
    # 5. a leading stop word, or a configured phrase
    ("Desuscribirme por favor", "out", "", "es", "leading_keyword"),
    ("STOP, no me escriban más", "out", "", "en", "leading_keyword"),  # STOP is English first
    ("Hola, por favor no me envíen más mensajes, gracias", "out", "", "es", "phrase"),
    ("Ya dejen de mandarme publicidad!!", "out", "", "es", "phrase"),
    ("Sáquenme de su lista por favor", "out", "", "es", "phrase"),
    ("Número equivocado, no conozco esta tienda", "out", "", "es", "phrase"),
    ("Quiero darme de baja", "out", "", "es", "phrase"),
    ("Baja por favor 🙏", "out", "", "es", "phrase"),
    ("No quiero recibir más mensajes de ustedes", "out", "", "es", "phrase"),
    ("Cancelar suscripción", "out", "", "es", "phrase"),
    ("No me envíe más mensajes, por favor", "out", "", "es", "phrase"),
    ("Quiero salir de la lista", "out", "", "es", "phrase"),
    ("No me interesa, gracias", "out", "", "es", "phrase"),
    # 6. a strong word elsewhere (flagged)
    ("¿Cómo hago para desuscribirme?", "out", "", "es", "stop_word_in_message"),
    ("Ya les dije que STOP", "out", "", "en", "stop_word_in_message"),
    # 7. reactions quoting our message
    ("Le gustó “Hoy 20% en botas. Responde BAJA para no recibir más”", "none", "", None, "reaction"),
    ('Le encantó "Responde STOP para darte de baja"', "none", "", None, "reaction"),
    # 8. near-misses: nobody is opted out
    ("¿A qué hora es el fin de la oferta?", "none", "", "es", "weak_word_in_message"),
    ("¿Cuándo baja de precio la chaqueta?", "none", "", "es", "weak_word_in_message"),
    ("Tengo que cancelar mi pedido", "none", "", "es", "weak_word_in_message"),
    ("El precio es muy alto, ¿tienen descuentos?", "none", "", "es", "weak_word_in_message"),
    ("Gracias por la información", "none", "", None, "no_match"),
    ("¿Dónde está mi pedido?", "none", "", None, "no_match"),
    ("Hola 😊", "none", "", None, "no_match"),
    ("Sí, ya me llegó el paquete", "none", "", None, "no_match"),
    ("¿Tienen tallas grandes?", "none", "", None, "no_match"),
    ("Ofertas", "none", "", None, "no_match"),
]

FRENCH = [
    # 1. the whole message is an opt-out keyword (ARRÊT is carrier-required)
    ("ARRÊT", "out", "", "fr", "keyword"),
    ("Arret", "out", "", "fr", "keyword"),
    ("arrêt !", "out", "", "fr", "keyword"),
    ("Désabonner", "out", "", "fr", "keyword"),
    ("DESABONNEMENT", "out", "", "fr", "keyword"),
    ("Désinscription", "out", "", "fr", "keyword"),
    ("Annuler", "out", "", "fr", "keyword"),
    ("STOPPER", "out", "", "fr", "keyword"),
    ("Arrêter.", "out", "", "fr", "keyword"),
    ("Résilier", "out", "", "fr", "keyword"),
    # 2. keyword and category names
    ("ARRÊT PROMOS", "out", "promotions", "fr", "keyword_with_categories"),
    ("Stop sondages", "out", "surveys", "fr", "keyword_with_categories"),
    ("désabonner sondages et actus", "out", "surveys newsletter", "fr", "keyword_with_categories"),
    ("STOP PUB", "out", "promotions", "fr", "keyword_with_categories"),
    ("Arrêt des promotions et de la newsletter", "out", "promotions newsletter", "fr", "keyword_with_categories"),
    ("Désinscrire des actualités", "out", "newsletter", "fr", "keyword_with_categories"),
    # 3. opt back in
    ("ABONNER", "in", "", "fr", "keyword"),
    ("Reprendre", "in", "", "fr", "keyword"),
    ("DÉBUT", "in", "", "fr", "keyword"),
    ("Oui", "in", "", "fr", "keyword"),
    ("Reprendre les promos", "in", "promotions", "fr", "keyword_with_categories"),
    ("Abonner sondages", "in", "surveys", "fr", "keyword_with_categories"),
    # 4. help
    ("AIDE", "help", "", "fr", "keyword"),
    ("Aide ?", "help", "", "fr", "keyword"),
    ("Assistance", "help", "", "fr", "keyword"),
    ("Infos", "help", "", "fr", "keyword"),
    # 5. a leading stop word, or a configured phrase
    ("ARRÊT immédiat svp", "out", "", "fr", "leading_keyword"),
    ("Désabonnez-moi s'il vous plaît", "out", "", "fr", "leading_keyword"),
    ("Stop à ces SMS", "out", "", "en", "leading_keyword"),
    ("Bonjour, ne m'envoyez plus de SMS svp", "out", "", "fr", "phrase"),
    ("Retirez-moi de votre liste, merci", "out", "", "fr", "phrase"),
    ("Je ne souhaite plus recevoir vos offres", "out", "", "fr", "phrase"),
    ("Mauvais numéro, je ne connais pas cette boutique", "out", "", "fr", "phrase"),
    ("Arrêtez de m'envoyer des messages !!", "out", "", "fr", "phrase"),
    ("Laissez-moi tranquille avec vos promos", "out", "", "fr", "phrase"),
    ("Bonjour, merci de ne plus m'envoyer de SMS", "out", "", "fr", "phrase"),
    ("Je ne veux plus recevoir de SMS", "out", "", "fr", "phrase"),
    # 6. a strong word elsewhere (flagged)
    ("Comment je fais pour me désabonner ?", "out", "", "fr", "stop_word_in_message"),
    ("Je veux me désinscrire de tout ça", "out", "", "fr", "stop_word_in_message"),
    # 7. reactions quoting our message
    ("A aimé « Répondez STOP pour vous désabonner »", "none", "", None, "reaction"),
    ("A adoré « -30 % sur les doudounes ! STOP au 36180 »", "none", "", None, "reaction"),
    # 8. near-misses: nobody is opted out
    ("Je voudrais annuler ma commande", "none", "", "fr", "weak_word_in_message"),
    ("C'est quand la fin des soldes ?", "none", "", "es", "weak_word_in_message"),  # "fin" is Spanish first
    ("Le bus s'arrête devant le magasin ?", "none", "", "fr", "weak_word_in_message"),
    ("Comment supprimer mon ancienne adresse ?", "none", "", "fr", "weak_word_in_message"),
    ("Quel est l'arrêt de tram le plus proche du magasin ?", "none", "", None, "no_match"),  # not_stop_phrases
    ("Merci, bien reçu !", "none", "", None, "no_match"),
    ("Je cherche de l'aide pour choisir ma taille", "none", "", None, "no_match"),
    ("Oui merci, le colis est arrivé", "none", "", None, "no_match"),
    ("Promos ?", "none", "", None, "no_match"),
]

GERMAN = [
    # 1. the whole message is an opt-out keyword (STOPP)
    ("STOPP", "out", "", "de", "keyword"),
    ("Stopp!", "out", "", "de", "keyword"),
    ("stopp.", "out", "", "de", "keyword"),
    ("ABMELDEN", "out", "", "de", "keyword"),
    ("Abbestellen", "out", "", "de", "keyword"),
    ("Austragen", "out", "", "de", "keyword"),
    ("Abmeldung!", "out", "", "de", "keyword"),
    ("ENDE", "out", "", "de", "keyword"),
    ("Beenden", "out", "", "de", "keyword"),
    ("Kündigen", "out", "", "de", "keyword"),
    ("Aufhören!", "out", "", "de", "keyword"),
    # 2. keyword and category names
    ("STOPP WERBUNG", "out", "promotions", "de", "keyword_with_categories"),
    ("STOPP UMFRAGEN", "out", "surveys", "de", "keyword_with_categories"),
    ("Abmelden Newsletter", "out", "newsletter", "de", "keyword_with_categories"),
    ("Stopp Umfragen und Angebote", "out", "surveys promotions", "de", "keyword_with_categories"),
    ("Stop Werbung", "out", "promotions", "de", "keyword_with_categories"),
    ("Abbestellen: alle Neuigkeiten", "out", "newsletter", "de", "keyword_with_categories"),
    ("Abmelden vom Newsletter", "out", "newsletter", "de", "keyword_with_categories"),
    # 3. opt back in
    ("Abonnieren", "in", "", "de", "keyword"),
    ("Fortsetzen", "in", "", "de", "keyword"),
    ("Ja", "in", "", "de", "keyword"),
    ("Start Werbung", "in", "promotions", "de", "keyword_with_categories"),
    ("Abonnieren Newsletter und Umfragen", "in", "newsletter surveys", "de", "keyword_with_categories"),
    # 4. help
    ("HILFE", "help", "", "de", "keyword"),
    ("Hilfe??", "help", "", "de", "keyword"),
    # 5. a leading stop word, or a configured phrase
    ("Stopp, ich will das nicht", "out", "", "de", "leading_keyword"),
    ("Abmelden bitte", "out", "", "de", "leading_keyword"),
    ("Austragen, danke", "out", "", "de", "leading_keyword"),
    ("Bitte keine SMS mehr schicken", "out", "", "de", "phrase"),
    ("Ich möchte keine Nachrichten mehr von Ihnen", "out", "", "de", "phrase"),
    ("Lassen Sie mich in Ruhe!", "out", "", "de", "phrase"),
    ("Falsche Nummer, ich kenne Sie nicht", "out", "", "de", "phrase"),
    ("Bitte nehmen Sie mich aus dem Verteiler", "out", "", "de", "phrase"),
    ("Hört auf, mir ständig zu schreiben!", "out", "", "de", "phrase"),
    ("Keine Werbung mehr bitte", "out", "", "de", "phrase"),
    ("Kein Interesse", "out", "", "de", "phrase"),
    # 6. a strong word elsewhere (flagged)
    ("Wie kann ich mich abmelden?", "out", "", "de", "stop_word_in_message"),
    ("Bitte sofort abbestellen", "out", "", "de", "stop_word_in_message"),
    # 7. reactions quoting our message
    ("Gefällt mir „Nur heute 20 % Rabatt! Antworte STOPP zum Abmelden“", "none", "", None, "reaction"),
    ("Hat mit 👍 auf „Antworte STOPP zum Abmelden“ reagiert", "none", "", None, "reaction"),
    # 8. near-misses: nobody is opted out
    ("Wann ist das Ende der Aktion?", "none", "", "de", "weak_word_in_message"),
    ("Kann ich die Bestellung noch löschen?", "none", "", "de", "weak_word_in_message"),
    ("Ich möchte meine Bestellung stornieren", "none", "", None, "no_match"),
    ("Wann hört der Sale auf?", "none", "", None, "no_match"),
    ("Danke, alles angekommen 👍", "none", "", None, "no_match"),
    ("Gibt es die Jacke auch in Größe M?", "none", "", None, "no_match"),
    ("Ja, gerne", "none", "", None, "no_match"),
]

PORTUGUESE = [
    # 1. the whole message is an opt-out keyword
    ("Parar!", "out", "", "es", "keyword"),  # "parar" is Spanish first
    ("Pare", "out", "", "pt", "keyword"),
    ("SAIR", "out", "", "pt", "keyword"),
    ("sair.", "out", "", "pt", "keyword"),
    ("FIM", "out", "", "pt", "keyword"),
    ("Descadastrar", "out", "", "pt", "keyword"),
    ("DESCADASTRE", "out", "", "pt", "keyword"),
    ("Desinscrição", "out", "", "pt", "keyword"),
    ("Encerrar", "out", "", "pt", "keyword"),
    ("Remover", "out", "", "pt", "keyword"),
    # 2. keyword and category names
    ("PARAR PROMOÇÕES", "out", "promotions", "pt", "keyword_with_categories"),
    ("Sair pesquisas", "out", "surveys", "pt", "keyword_with_categories"),
    ("Descadastrar newsletter", "out", "newsletter", "pt", "keyword_with_categories"),
    ("Cancelar promoções e pesquisas", "out", "promotions surveys", "pt", "keyword_with_categories"),
    ("STOP PUBLICIDADE", "out", "promotions", "pt", "keyword_with_categories"),
    ("Pare as novidades", "out", "newsletter", "pt", "keyword_with_categories"),
    ("Sair das promoções", "out", "promotions", "pt", "keyword_with_categories"),  # "das" joins (German joiner)
    ("Sair da newsletter", "out", "newsletter", "pt", "keyword_with_categories"),
    # 3. opt back in
    ("REATIVAR", "in", "", "pt", "keyword"),
    ("Assinar", "in", "", "pt", "keyword"),
    ("Começar", "in", "", "pt", "keyword"),
    ("Voltar a receber", "in", "", "pt", "keyword"),
    ("Sim", "in", "", "pt", "keyword"),
    ("Reativar ofertas", "in", "promotions", "pt", "keyword_with_categories"),
    ("Voltar a receber novidades", "in", "newsletter", "pt", "keyword_with_categories"),
    # 4. help
    ("AJUDA", "help", "", "pt", "keyword"),
    ("Ajuda!", "help", "", "pt", "keyword"),
    ("Suporte", "help", "", "pt", "keyword"),
    ("Informação", "help", "", "pt", "keyword"),
    # 5. a leading stop word, or a configured phrase
    ("Descadastrar por favor", "out", "", "pt", "leading_keyword"),
    ("Descadastre meu número, obrigado", "out", "", "pt", "leading_keyword"),
    ("Não quero mais receber essas mensagens", "out", "", "pt", "phrase"),
    ("Por favor, me tire da lista", "out", "", "pt", "phrase"),
    ("Parem de me enviar mensagens!", "out", "", "pt", "phrase"),
    ("Número errado, não conheço essa loja", "out", "", "pt", "phrase"),
    ("Me deixem em paz!!", "out", "", "pt", "phrase"),
    ("Pare de mandar mensagem", "out", "", "pt", "phrase"),
    ("Quero cancelar minha inscrição", "out", "", "pt", "phrase"),
    ("Me tira dessa lista por favor", "out", "", "pt", "phrase"),
    # 6. a strong word elsewhere (flagged)
    ("Como faço para me descadastrar?", "out", "", "pt", "stop_word_in_message"),
    # 7. reactions quoting our message
    ("Curtiu “Só hoje: 20% OFF! Responda SAIR para cancelar”", "none", "", None, "reaction"),
    ('Amou "Frete grátis hoje. Responda PARAR para sair"', "none", "", None, "reaction"),
    # 8. near-misses: nobody is opted out
    ("Quero cancelar o pedido", "none", "", "es", "weak_word_in_message"),  # "cancelar" is Spanish first
    ("Quando é o fim da promoção?", "none", "", "pt", "weak_word_in_message"),
    ("Posso remover um item do carrinho?", "none", "", "pt", "weak_word_in_message"),
    ("Que horas o pedido vai sair para entrega?", "none", "", "pt", "weak_word_in_message"),
    ("Obrigado, chegou tudo certo!", "none", "", None, "no_match"),
    ("Sim, recebi o pacote", "none", "", None, "no_match"),
    ("Qual o horário da loja?", "none", "", None, "no_match"),
]

ITALIAN = [
    # 1. the whole message is an opt-out keyword
    ("Disiscrivimi", "out", "", "it", "keyword"),
    ("DISISCRIZIONE", "out", "", "it", "keyword"),
    ("Disiscrivere", "out", "", "it", "keyword"),
    ("BASTA", "out", "", "es", "keyword"),  # "basta" is Spanish first
    ("Fine", "out", "", "it", "keyword"),
    ("ANNULLA", "out", "", "it", "keyword"),
    ("Cancellami", "out", "", "it", "keyword"),
    ("Smettila!", "out", "", "it", "keyword"),
    ("Disdici", "out", "", "it", "keyword"),
    ("Rimuovi.", "out", "", "it", "keyword"),
    # 2. keyword and category names
    ("STOP PROMOZIONI", "out", "promotions", "it", "keyword_with_categories"),
    ("Basta offerte e sondaggi", "out", "promotions surveys", "it", "keyword_with_categories"),
    ("Disiscrivi newsletter", "out", "newsletter", "it", "keyword_with_categories"),
    ("Cancella le notizie", "out", "newsletter", "it", "keyword_with_categories"),
    ("Stop sondaggi", "out", "surveys", "it", "keyword_with_categories"),
    ("Annulla tutte le promozioni", "out", "promotions", "it", "keyword_with_categories"),
    ("Stop alle promozioni", "out", "promotions", "it", "keyword_with_categories"),  # "alle" joins (German joiner)
    ("Disiscrivimi dalla newsletter", "out", "newsletter", "it", "keyword_with_categories"),
    # 3. opt back in
    ("RIATTIVA", "in", "", "it", "keyword"),
    ("Iscrivimi", "in", "", "it", "keyword"),
    ("Sì", "in", "", "es", "keyword"),  # "si" is Spanish first
    ("Attiva promozioni", "in", "promotions", "it", "keyword_with_categories"),
    ("Riattiva le offerte e le novità", "in", "promotions newsletter", "it", "keyword_with_categories"),
    # 4. help
    ("AIUTO", "help", "", "it", "keyword"),
    ("Aiuto?", "help", "", "it", "keyword"),
    ("Assistenza", "help", "", "it", "keyword"),
    # 5. a leading stop word, or a configured phrase
    ("Disiscrivimi subito per favore", "out", "", "it", "leading_keyword"),
    ("Stop, non mi interessa", "out", "", "en", "leading_keyword"),
    ("Per favore non mandatemi più messaggi", "out", "", "it", "phrase"),
    ("Non voglio più ricevere i vostri SMS", "out", "", "it", "phrase"),
    ("Toglietemi dalla lista, grazie", "out", "", "it", "phrase"),
    ("Numero sbagliato, non so chi siete", "out", "", "it", "phrase"),
    ("Lasciatemi in pace!", "out", "", "it", "phrase"),
    ("Basta messaggi!!", "out", "", "it", "phrase"),
    ("Smettete di scrivermi ogni giorno", "out", "", "it", "phrase"),
    ("Non mi piace l'insistenza, non scrivetemi più", "out", "", "it", "phrase"),
    # 6. a strong word elsewhere (flagged)
    ("Vorrei la disiscrizione da tutto", "out", "", "it", "stop_word_in_message"),
    ("Come posso disiscrivere il mio numero?", "out", "", "it", "stop_word_in_message"),
    ("Come faccio a disiscrivermi?", "out", "", "it", "stop_word_in_message"),
    # 7. reactions quoting our message
    ("Ha messo \"Mi piace\" a “Solo oggi -20%! Rispondi STOP per disiscriverti”", "none", "", None, "reaction"),
    ("Ha riso di “Rispondi STOP per non ricevere più SMS”", "none", "", None, "reaction"),
    # 8. near-misses: nobody is opted out
    ("Il pacco è arrivato, grazie", "none", "", None, "no_match"),
    ("Vorrei annullare l'ordine", "none", "", None, "no_match"),
    ("A che ora è la fine dei saldi?", "none", "", "it", "weak_word_in_message"),
    ("Annulla l'ordine 4521 per favore", "none", "", "it", "weak_word_in_message"),
    ("Basta così, ho trovato la taglia giusta", "none", "", "es", "weak_word_in_message"),
    ("Quando finisce l'offerta?", "none", "", None, "no_match"),
    ("Va bene 👍", "none", "", None, "no_match"),
    ("Mi piace molto la giacca", "none", "", None, "no_match"),
]

DUTCH = [
    # 1. the whole message is an opt-out keyword
    ("Afmelden", "out", "", "nl", "keyword"),
    ("AFMELDEN!", "out", "", "nl", "keyword"),
    ("Uitschrijven", "out", "", "nl", "keyword"),
    ("UITSCHRIJVING", "out", "", "nl", "keyword"),
    ("Afmelding.", "out", "", "nl", "keyword"),
    ("Stoppen", "out", "", "de", "keyword"),  # "stoppen" is German first
    ("OPZEGGEN", "out", "", "nl", "keyword"),
    ("Einde", "out", "", "nl", "keyword"),
    ("Annuleren", "out", "", "nl", "keyword"),
    ("Beëindigen", "out", "", "nl", "keyword"),
    # 2. keyword and category names
    ("STOP ACTIES", "out", "promotions", "nl", "keyword_with_categories"),
    ("Afmelden nieuwsbrief", "out", "newsletter", "nl", "keyword_with_categories"),
    ("Stop reclame en enquêtes", "out", "promotions surveys", "nl", "keyword_with_categories"),
    ("Opzeggen nieuwsbrief en aanbiedingen", "out", "newsletter promotions", "nl", "keyword_with_categories"),
    ("Afmelden peilingen", "out", "surveys", "nl", "keyword_with_categories"),
    ("Stoppen met de acties", "out", "promotions", "nl", "keyword_with_categories"),
    # 3. opt back in
    ("AANMELDEN", "in", "", "nl", "keyword"),
    ("Inschrijven", "in", "", "nl", "keyword"),
    ("Hervatten", "in", "", "nl", "keyword"),
    ("Starten", "in", "", "de", "keyword"),  # "starten" is German first
    ("Aanmelden acties", "in", "promotions", "nl", "keyword_with_categories"),
    ("Inschrijven nieuwsbrief", "in", "newsletter", "nl", "keyword_with_categories"),
    # 4. help
    ("HULP", "help", "", "nl", "keyword"),
    ("Hulp?", "help", "", "nl", "keyword"),
    # 5. a leading stop word, or a configured phrase
    ("Afmelden graag", "out", "", "nl", "leading_keyword"),
    ("Uitschrijven a.u.b.", "out", "", "nl", "leading_keyword"),
    ("STOP, ik heb hier nooit om gevraagd", "out", "", "en", "leading_keyword"),
    ("Stuur me geen berichten meer alstublieft", "out", "", "nl", "phrase"),
    ("Graag geen sms'jes meer", "out", "", "nl", "phrase"),
    ("Haal me van de lijst aub", "out", "", "nl", "phrase"),
    ("Verkeerd nummer, ik ken jullie niet", "out", "", "nl", "phrase"),
    ("Laat me met rust!", "out", "", "nl", "phrase"),
    ("Meld me af alsjeblieft", "out", "", "nl", "phrase"),
    ("Ik wil geen berichten meer ontvangen", "out", "", "nl", "phrase"),
    ("Geen interesse, bedankt", "out", "", "nl", "phrase"),
    # 6. a strong word elsewhere (flagged)
    ("Hoe kan ik me afmelden?", "out", "", "nl", "stop_word_in_message"),
    ("Ik wil me uitschrijven", "out", "", "nl", "stop_word_in_message"),
    # 7. reactions quoting our message
    ("Vond “Vandaag 20% korting! Antwoord STOP om af te melden” leuk", "none", "", None, "reaction"),
    ("Heeft gereageerd met 👍 op “Antwoord STOP om af te melden”", "none", "", None, "reaction"),
    # 8. near-misses: nobody is opted out
    ("Wanneer is de actie afgelopen?", "none", "", None, "no_match"),
    ("Ik wil mijn bestelling annuleren", "none", "", "nl", "weak_word_in_message"),
    ("Kan ik een artikel uit mijn winkelmandje verwijderen?", "none", "", "nl", "weak_word_in_message"),
    ("Wanneer stoppen jullie met de uitverkoop?", "none", "", "de", "weak_word_in_message"),
    ("Aan het einde van de maand kom ik langs", "none", "", "nl", "weak_word_in_message"),
    ("Bedankt, pakket is binnen!", "none", "", None, "no_match"),
    ("Ja graag", "none", "", None, "no_match"),
    ("Tot morgen 👋", "none", "", None, "no_match"),
]

CASES = ENGLISH + SPANISH + FRENCH + GERMAN + PORTUGUESE + ITALIAN + DUTCH


@pytest.mark.parametrize("text, action, categories, language, rule", CASES)
def test_classify(text, action, categories, language, rule):
    decision = classify(text, TABLE)
    assert (decision.action, " ".join(decision.categories), decision.language, decision.rule) == (
        ACTIONS[action], categories, language, rule)


@pytest.mark.parametrize("text, flagged", [
    ("STOP", False),
    ("please remove me from your list", False),
    ("Can you stop?", True),          # opted out, and a person should look
    ("Does the offer end today?", True),  # not opted out, and a person should look
    ("hello", False),
    ('Liked "Reply STOP to opt out"', False),
])
def test_flagged_for_review(text, flagged):
    assert classify(text, TABLE).flagged is flagged


@pytest.mark.parametrize("text, matched", [
    ("Stop.", "stop"),
    ("OPTOUT", "opt out"),
    ("please remove me from your list", "remove me from your list"),
    ("UNSUBSCRIBE SURVEYS", "unsubscribe"),
])
def test_the_decision_names_what_matched(text, matched):
    assert classify(text, TABLE).matched == matched


def test_yes_opts_in_only_someone_who_is_opted_out():
    assert classify("YES", TABLE).only_if_opted_out
    assert not classify("START", TABLE).only_if_opted_out


def test_there_are_at_least_200_cases_in_every_shipped_language():
    rows = [getattr(case, "values", case) for case in CASES]  # pytest.param(...) keeps its row in .values
    assert len(rows) >= 200
    assert {language for *_, language, _ in rows if language} == set(TABLE.languages)


def test_a_table_remembers_its_answers_and_forgets_them_when_full(monkeypatch):
    table = load_keywords(str(ROOT / "keywords.yaml"))
    first = classify("stop please", table)
    assert classify("stop please", table) is first  # remembered, not worked out again
    assert classify("stop please", TABLE) == first and classify("stop please", TABLE) is not first  # per table
    monkeypatch.setattr(classifier, "MEMO_SIZE", 3)
    for text in ("a", "b", "c", "d"):
        classify(text, table)
    assert len(table.memo) <= 3 and ("d", None) in table.memo
