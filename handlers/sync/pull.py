"""flask pull-suppressions: read a provider's unsubscribe / suppression lists and record here what is
missing (an opt-out of everything for its account-wide list, of the mapped category for a list of
one). What is pulled is not pushed back to that provider."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..core import intake
from ..core.addresses import InvalidAddress, normalise_email
from ..core.keywords import KeywordTable
from ..core.provider_events import OPT_OUT, ProviderEvent, as_inbound, category_for
from ..storage.erasure import erased_states
from ..storage.imports import ImportReport, record_opt_outs
from ..storage.store import Store
from .clients import Client


@dataclass
class PullReport:
    provider: str
    read: int = 0  # rows the provider listed
    everything: int = 0  # recorded now as opted out of everything
    categories: int = 0  # recorded now as opted out of a category
    already: int = 0  # already so here
    erased: int = 0  # erased here and kept suppressed by digest: nothing recorded (not their own act)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (address, reason)


def pull_suppressions(store: Store, client: Client, table: KeywordTable, rows: Iterable | None = None) -> PullReport:
    """Record every suppression `client` lists that is not recorded here. `rows` is the client's
    listing (client.suppressed(...)) when the caller wraps it in a progress bar."""
    report = PullReport(client.name)
    mapped = table.provider_lists.get(client.name, {})
    everything: list[str] = []
    try:
        for raw, key in rows if rows is not None else client.suppressed(table.lists_of(client.name, ())):
            report.read += 1
            try:
                address = normalise_email(raw)
            except InvalidAddress as error:
                report.invalid.append((raw, str(error)))
                continue
            categories, flagged = category_for(mapped, [] if key is None else [key], OPT_OUT)
            if not categories:
                everything.append(address)
                continue
            if erased_states(store.connection(), store.erasure_key, "email", (address,)):
                report.erased += 1
                continue
            event = ProviderEvent("email", client.name, f"pull:{key}:{address}", address, OPT_OUT,
                                  f"pulled from {key}", categories, flagged, evidence={"list": key})
            inbound, decision = as_inbound(event)
            recorded = intake.handle(inbound, table, store, decision)
            changed = not recorded.duplicate and recorded.transition.changed
            report.categories += changed
            report.already += not changed
    finally:
        # The pages read before a failure (or the page cap) are recorded all the same.
        counted = record_opt_outs(store, ImportReport(client.name, "email"), iter(dict.fromkeys(everything)),
                                  f"pull:{client.name}")
        report.everything, report.already = counted.imported, report.already + counted.already
        report.erased += counted.erased
    return report
