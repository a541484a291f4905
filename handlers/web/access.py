"""Who is calling and what they may do, for every route: the actor of a request (a named operator, an API
key, the built-in admin of ADMIN_TOKEN), the one permission each view declares, and the audit entry that
names them (issue 25).

For other routes, two calls:

    @api.post("/erasures")
    @requires("erase")              # the permission (handlers/core/access.py); None: open to anyone
    def erase(): ...
        audit("erasure", "1 address on sms")   # appended to the audit log, with actor and client

A view that declares no permission is refused (403) by its blueprint's guard: a new route is closed until
someone says who may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import current_app, g, request

from ..core.access import role_allows, scope_allows
from ..storage import audit as audit_log
from .context import services

V = TypeVar("V", bound=Callable)
_UNDECLARED = object()


@dataclass(frozen=True)
class Actor:
    name: str  # as the audit log names them: an email, key:NAME, the built-in admin
    role: str | None = None  # an operator's (viewer, reviewer, admin)
    scope: str | None = None  # an API key's (check, read, write)

    def may(self, permission: str) -> bool:
        return role_allows(self.role, permission) if self.role else scope_allows(self.scope or "", permission)


def requires(permission: str | None) -> Callable[[V], V]:
    """Declare the permission a view needs (None: open to anyone, e.g. the login form)."""
    def declare(view: V) -> V:
        view.permission = permission
        return view
    return declare


def required_permission() -> str | None | object:
    """The permission the current request's view declared; _UNDECLARED if it declared none."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "permission", _UNDECLARED)


def is_public() -> bool:
    return required_permission() is None


def permitted(actor: Actor | None) -> bool:
    """Whether `actor` may call the current request's view (never a view that declares nothing)."""
    permission = required_permission()
    if permission is None:
        return True
    return actor is not None and isinstance(permission, str) and actor.may(permission)


def current_actor() -> Actor | None:
    return g.get("actor")


def client_address() -> str:
    """The client's address as TRUSTED_PROXIES allows (ProxyFix has set remote_addr from their headers)."""
    return request.remote_addr or ""


def entry(action: str, detail: str, actor: Actor | None = None) -> audit_log.Entry:
    """An audit entry for this request: its actor (or `actor`) and its client."""
    who = actor or current_actor()
    return audit_log.Entry(who.name if who else "anonymous", action, detail, client_address())


def audit(action: str, detail: str, actor: Actor | None = None) -> None:
    """Append an entry for this request to the audit log (a transaction of its own)."""
    audit_log.record(services().store, entry(action, detail, actor))
