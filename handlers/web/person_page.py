"""The contact page's Export and Erase (/admin/contacts/export, /admin/contacts/erase): a person's data as
a download (GDPR Art. 15) and their erasure after a confirmation page (Art. 17). Part of the admin
blueprint (its login, CSRF token and headers); the work is handlers/storage/person_export.py's and
erasure.py's."""

from __future__ import annotations

import json

from flask import Response, request

from ..core.addresses import InvalidAddress, normalise
from ..core.personal_data import ErasureKeyError, kept_scopes, retention_days
from ..storage.erasure import erase
from ..storage.person_export import person_export
from .access import audit, current_actor, requires
from .admin import admin, page
from .context import services


@admin.post("/contacts/export")
@requires("export")
def contact_export():
    """The person's data as a JSON download (a subject access request); the address comes in the form."""
    person = person_in_form()
    if not isinstance(person, tuple):
        return person
    days = retention_days(services().settings.get("MESSAGE_RETENTION_DAYS"))
    exported = person_export(services().store, *person, services().keywords.categories, days)
    audit("export_person", f"the data of one {person[0]} address")
    return Response(json.dumps(exported, indent=2, ensure_ascii=False), mimetype="application/json",
                    headers={"Content-Disposition": 'attachment; filename="person-export.json"'})


@admin.post("/contacts/erase")
@requires("erase")
def contact_erase():
    """First a confirmation page (what goes, what stays); erased only when that page's form says so."""
    person = person_in_form()
    if not isinstance(person, tuple):
        return person
    channel, address = person
    store = services().store
    if request.form.get("confirmed") != "yes":
        record = store.contact(channel, address)
        states = (record["state"], *record["brands"].values())  # what is kept: every brand's opt-outs
        return page("erase.html", channel=channel, address=address, messages=len(record["messages"]),
                    events=len(record["events"]), kept=sorted({s for state in states for s in kept_scopes(state)}))
    try:
        result = erase(store, services().settings.get("ERASURE_KEY"), channel, address,
                       actor=f"dashboard:{current_actor().name}")
    except ErasureKeyError as e:
        return page("message.html", 503, title="Nothing was erased", text=str(e))
    audit("erasure", f"erasure {result['erasure_id']} of one {channel} address; kept suppressed: "
                     f"{', '.join(result['kept']) or 'nothing'}")
    return page("erase.html", channel=channel, result=result)


def person_in_form():
    """(channel, canonical address) from a contact page's form, or the page that says what is wrong."""
    channel = request.form.get("channel", "")
    try:
        return channel, normalise(channel, request.form.get("address", ""), services().settings["DEFAULT_REGION"])
    except InvalidAddress as e:
        return page("message.html", 400, title="Not an address", text=f"Not a {channel} address: {e}")
