"""Who may do what: operators' roles, API keys' scopes, and the permissions each grants (issue 25).

One set of permissions serves both, so a route names the one thing it needs and either kind of caller
is checked against it:

    check    the suppression check and unsubscribe links          (every role; every scope)
    read     the dashboard, contacts, look-ups                      (viewer; scope read)
    review   review verdicts                                        (reviewer)
    export   exports of the list or of a person's data              (admin; scope read)
    import   imports of suppression lists                           (admin; scope write)
    erase    erasures                                               (admin; scope write)
    manage   operators, API keys and the audit log                  (admin)
"""

from __future__ import annotations

from collections.abc import Iterable

ROLES = ("viewer", "reviewer", "admin")  # each includes the ones before it
SCOPES = ("check", "read", "write")  # likewise
PERMISSIONS = ("check", "read", "review", "export", "import", "erase", "manage")

_ROLE_GRANTS = {
    "viewer": {"check", "read"},
    "reviewer": {"check", "read", "review"},
    "admin": set(PERMISSIONS),
}
_SCOPE_GRANTS = {
    "check": {"check"},
    "read": {"check", "read", "export"},
    "write": {"check", "read", "export", "import", "erase"},
}

BUILT_IN_ADMIN = "admin"  # the built-in admin of ADMIN_TOKEN, as the audit log and reviews name it (emails have an @)


def role_allows(role: str, permission: str) -> bool:
    return permission in _ROLE_GRANTS.get(role, ())


def scope_allows(scope: str, permission: str) -> bool:
    return permission in _SCOPE_GRANTS.get(scope, ())


def parse_role_map(text: str | None) -> dict[str, str]:
    """OIDC_ROLE_MAP ("optout-admins=admin, staff=viewer") as {claim value: role}; ValueError names a bad pair."""
    mapping = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        value, sep, role = (part.strip() for part in pair.rpartition("="))
        if not sep or not value or role not in ROLES:
            raise ValueError(f"OIDC_ROLE_MAP: {pair.strip()!r} is not VALUE=ROLE with a role of {', '.join(ROLES)}")
        mapping[value] = role
    return mapping


def role_from_claim(claim: str | Iterable[str] | None, mapping: dict[str, str]) -> str | None:
    """The highest role that any of the claim's values maps to (a claim is one string or a list); None for none."""
    values = [claim] if isinstance(claim, str) else list(claim or ())
    roles = {mapping[v] for v in values if isinstance(v, str) and v in mapping}
    return max(roles, key=ROLES.index) if roles else None
