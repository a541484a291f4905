"""Operators' passwords and API keys: made, hashed and checked here; only their hashes are stored.

Passwords are hashed with Argon2id (argon2-cffi's PasswordHasher, RFC 9106's parameters): slow and
memory-hard on purpose, because a person's password may be guessable. An API key is 32 random bytes,
which nobody guesses, so a fast SHA-256 of it is as safe to store and lets every API request find its
key by one indexed lookup instead of one Argon2 hash (~50 ms) per key on record.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
KEY_PREFIX = "optout_"  # lets a secret scanner, or a person, tell our keys from other tokens


def new_password() -> str:
    """A one-time password to hand to a new operator (about 128 bits)."""
    return secrets.token_urlsafe(16)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Whether `password` is the one `stored_hash` was made from (False for no hash: an SSO-only operator)."""
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (rehashed at the next login)."""
    return _hasher.check_needs_rehash(stored_hash)


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    """What is stored of an API key, and what a presented key is looked up by."""
    return hashlib.sha256(key.encode()).hexdigest()


# A wrong password costs the same time whether or not its account exists, so timing tells no one which
# email addresses are operators.
_DUMMY_HASH = None


def burn_time(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
    password_matches(_DUMMY_HASH, password)
