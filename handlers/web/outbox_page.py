"""The dashboard's Outbox (/admin/outbox): confirmation emails waiting for SMTP, changes waiting to reach
the providers, what went and what was given up with its error, and "retry now". Part of the admin
blueprint (its login, CSRF token and headers); the queries are handlers/storage/outbox_listing.py's and
retry_queue.py's."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from ..storage import outbox_listing, retry_queue
from .access import audit, requires
from .admin import admin, page
from .context import services

# "confirmations" also holds a reviewer's one message after a correction, by email or by SMS.
QUEUES = {"confirmations": "Confirmation emails", "pushes": "Provider pushes"}


@admin.get("/outbox")
@requires("read")
def outbox_list():
    queue, status = request.args.get("queue") or "confirmations", request.args.get("status") or "pending"
    if queue not in QUEUES or status not in retry_queue.STATUSES:
        return page("message.html", 400, title="Unknown queue or status",
                    text=f"queue is one of {', '.join(QUEUES)}; status one of {', '.join(retry_queue.STATUSES)}.")
    store, settings = services().store, services().settings
    return page("outbox.html", queues=QUEUES, queue=queue, shown=status, statuses=retry_queue.STATUSES,
                counts={name: retry_queue.counts(store, retry_queue.QUEUES[name]) for name in QUEUES},
                rows=outbox_listing.listing(store, queue, status), smtp=bool(settings.get("SMTP_URL")),
                providers=store.push_to)


@admin.post("/outbox/<queue>/<int:row_id>/retry")
@requires("manage")  # sends to a person or a provider again: an admin's act, audited
def retry_outbox(queue: str, row_id: int):
    # Ids are 64-bit in both databases; a larger number names no row (and overflows SQLite).
    if queue in QUEUES and row_id < 2**63 and retry_queue.retry_now(services().store, row_id,
                                                                     retry_queue.QUEUES[queue]):
        audit("outbox_retry", f"{queue} {row_id}")
        flash(f"{QUEUES[queue][:-1]} {row_id} is due now; the mail worker sends it within a second or two.", "notice")
    else:
        flash(f"{row_id} is not waiting in {QUEUES.get(queue, 'the outbox').lower()} (it may have been sent "
              "meanwhile).", "error")
    return redirect(url_for("admin.outbox_list", queue=queue if queue in QUEUES else None,
                            status=request.form.get("status") or "pending"), 303)
