"""Push queued changes of email consent to the providers' suppression lists, after commit, retrying
with backoff: run by the mail worker, never in a webhook's path. A provider outage delays a push and
never loses it (the row waits in provider_pushes); only a request the provider calls invalid for good
is given up, with its reason kept."""

from __future__ import annotations

import json

from ..core.decision import OPT_OUT
from ..core.keywords import KeywordTable
from ..providers.http_api import ApiError
from ..storage import pushes
from ..storage.store import Store
from .clients import Client, lists_for


def push_due(store: Store, clients: dict[str, Client], table: KeywordTable, limit: int = 100) -> dict:
    """Push what is due now. Returns counts {"pushed", "retry", "failed"}."""
    counts = {"pushed": 0, "retry": 0, "failed": 0}
    for row in pushes.claim_due(store, limit):
        client = clients.get(row["provider"])
        if client is None:  # its credentials were removed since: keep it for when they are back
            pushes.retry_later(store, row, f"{row['provider']} is not configured")
            counts["retry"] += 1
            continue
        try:
            note = push_one(client, row, table)
        except ApiError as error:
            (pushes.give_up if error.permanent else pushes.retry_later)(store, row, str(error))
            counts["failed" if error.permanent else "retry"] += 1
        else:
            pushes.mark_pushed(store, row, note)
            counts["pushed"] += 1
    return counts


def push_one(client: Client, row: dict, table: KeywordTable) -> str | None:
    """Make one change at the provider; returns a note when there was nothing (or not all) to do."""
    categories = tuple(json.loads(row["categories"]))
    lists = lists_for(client.name, categories, table)
    if lists == ():
        return f"no {client.name} list is mapped to {', '.join(categories)} in keywords.yaml"
    if row["action"] == OPT_OUT:
        return client.suppress(row["address"], lists)
    notes = [client.unsuppress(row["address"], lists)]
    mapped = table.lists_of(client.name, ())
    if lists is None and mapped:  # opted in to everything: every category's list too
        notes.append(client.unsuppress(row["address"], mapped))
    return "; ".join(n for n in notes if n) or None
