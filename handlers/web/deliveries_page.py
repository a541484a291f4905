"""The dashboard's consent webhook deliveries (/admin/deliveries): what waits, what was given up, what
went, with the last error and the next try, and "retry now". Part of the admin blueprint (its login,
CSRF token and headers); the queries are handlers/storage/deliveries.py's."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from ..storage import deliveries
from .access import audit, requires
from .admin import admin, page
from .context import services


@admin.get("/deliveries")
@requires("read")
def deliveries_list():
    status = request.args.get("status") or "pending"
    if status not in deliveries.STATUSES:
        return page("message.html", 400, title="Unknown status",
                    text=f"status is one of {', '.join(deliveries.STATUSES)}.")
    store = services().store
    return page("deliveries.html", shown=status, statuses=deliveries.STATUSES, counts=deliveries.counts(store),
                rows=deliveries.listing(store, status), receivers=len(store.webhook_to),
                signing=bool(services().settings.get("CONSENT_WEBHOOK_SECRET")))


@admin.post("/deliveries/<int:row_id>/retry")
@requires("manage")  # sends a person's change to a receiver again: an admin's act, audited
def retry_delivery(row_id: int):
    # Ids are 64-bit in both databases; a larger number names no row (and overflows SQLite).
    if row_id < 2**63 and deliveries.retry_now(services().store, row_id):
        audit("consent_webhook_retry", f"delivery {row_id}")
        flash(f"Delivery {row_id} is due now; the mail worker sends it within a second or two.", "notice")
    else:
        flash(f"Delivery {row_id} is not waiting (it may have been delivered meanwhile).", "error")
    return redirect(url_for("admin.deliveries_list", status=request.form.get("status") or "pending"), 303)
