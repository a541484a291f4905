"""The schema, as migrations: each runs once per database, in order, and is never edited after release;
and apply_migrations, which runs them on either database.

Written once for both databases; handlers/storage/dialect.py turns a statement into PostgreSQL's
(identity keys, no WITHOUT ROWID, byte-order text). SQLite records what ran in sqlite-utils'
_sqlite_migrations table (as it always has); PostgreSQL in schema_migrations.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone

from .dialect import Dialect

MIGRATIONS: list[tuple[str, tuple[str, ...]]] = []


def migration(name: str, *statements: str) -> None:
    MIGRATIONS.append((name, statements))


migration(
    "m001_initial",
    """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            channel TEXT NOT NULL,
            provider TEXT NOT NULL,
            provider_id TEXT NOT NULL,
            address TEXT NOT NULL,
            recipient TEXT,
            body TEXT NOT NULL,
            params TEXT NOT NULL,           -- every parameter the provider sent, as evidence (JSON)
            received_at TEXT NOT NULL,
            action TEXT NOT NULL,           -- what was done: opt_out, opt_in, help, none
            categories TEXT NOT NULL,       -- JSON list; [] means everything
            language TEXT,                  -- the language of the reply / of the words matched
            language_sure INTEGER NOT NULL DEFAULT 0,  -- 1 when the words belong to that language only
            rule TEXT NOT NULL,
            matched TEXT,
            flagged INTEGER NOT NULL DEFAULT 0,
            reply TEXT,                     -- the reply we answered with, if any
            UNIQUE (provider, provider_id)
        )""",
    "CREATE INDEX messages_by_address ON messages (channel, address)",
    """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            channel TEXT NOT NULL,
            address TEXT NOT NULL,
            action TEXT NOT NULL,           -- opt_out or opt_in
            categories TEXT NOT NULL,       -- JSON list; [] means everything
            changed INTEGER NOT NULL,       -- 0 when the person was already in that state
            state_after TEXT NOT NULL,      -- JSON {scope: out|in}
            source TEXT NOT NULL,           -- e.g. sms:twilio
            message_id INTEGER REFERENCES messages (id),
            created_at TEXT NOT NULL
        )""",
    "CREATE INDEX events_by_address ON events (channel, address)",
    """
        CREATE TABLE consent (
            channel TEXT NOT NULL,
            address TEXT NOT NULL,
            scope TEXT NOT NULL,            -- '*' for everything, or a category
            status TEXT NOT NULL CHECK (status IN ('out', 'in')),
            updated_at TEXT NOT NULL,
            PRIMARY KEY (channel, address, scope)
        ) WITHOUT ROWID""",
)

migration(
    "m002_email",
    """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages (id),
            channel TEXT NOT NULL,
            address TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            in_reply_to TEXT,               -- the Message-ID of the person's email
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            claimed_until TEXT,             -- a worker is sending it until then
            sent_at TEXT,
            failed_at TEXT,                 -- given up: the server refused it for good
            last_error TEXT
        )""",
    "CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL",
    "CREATE INDEX outbox_by_address ON outbox (channel, address, created_at)",
    """
        CREATE TABLE nonces (
            nonce TEXT PRIMARY KEY,         -- e.g. a Mailgun token
            provider TEXT NOT NULL,
            provider_id TEXT NOT NULL,      -- the message it came with
            seen_at TEXT NOT NULL
        ) WITHOUT ROWID""",
)

# One row per address (not per message sent): unsubscribe links carry this random id, not the
# address, so a link in a log or a forwarded mail does not reveal whose it is.
migration(
    "m003_links",
    """
        CREATE TABLE links (
            id TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            address TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (channel, address)
        )""",
)

# An operator's verdict on a flagged decision. A correction is also a new event (history is
# never rewritten); the row here only takes the message off the review queue.
migration(
    "m004_reviews",
    """
        CREATE TABLE reviews (
            message_id INTEGER PRIMARY KEY REFERENCES messages (id),
            verdict TEXT NOT NULL CHECK (verdict IN ('confirmed', 'not_opt_out', 'opt_out')),
            actor TEXT NOT NULL,
            event_id INTEGER REFERENCES events (id),
            reviewed_at TEXT NOT NULL
        )""",
    "CREATE INDEX messages_flagged ON messages (id) WHERE flagged = 1",
    "CREATE INDEX messages_received ON messages (received_at)",
)

# Throttles that count across processes and nodes: one row per event, read back over its window.
migration(
    "m005_throttles",
    """
        CREATE TABLE throttle_events (
            name TEXT NOT NULL,             -- which throttle, e.g. admin_login_failures
            key TEXT NOT NULL,              -- whom it counts, e.g. the client's address
            at REAL NOT NULL                -- seconds since the epoch
        )""",
    "CREATE INDEX throttle_events_by_key ON throttle_events (name, key, at)",
)


# The dashboard's logins, so that logging out (or the token changing) ends a session even for a copy of
# its cookie: the cookie names a row here, and only a live row lets it in.
migration(
    "m006_admin_sessions",
    """
        CREATE TABLE admin_sessions (
            id TEXT PRIMARY KEY,            -- random; the only thing the cookie carries besides its signature
            token_digest TEXT NOT NULL,     -- which ADMIN_TOKEN it was opened with (derived, not the token)
            started_at TEXT NOT NULL,
            ended_at TEXT                   -- logged out
        )""",
)

# Changes of email consent waiting to reach the providers that send for the business (SendGrid,
# Mailgun, Postmark): written in the same transaction as the change, pushed by the mail worker.
# The queue columns are the outbox's, so that one set of queries claims and retries both.
migration(
    "m007_provider_pushes",
    """
        CREATE TABLE provider_pushes (
            id INTEGER PRIMARY KEY,
            provider TEXT NOT NULL,         -- sendgrid | mailgun | postmark
            address TEXT NOT NULL,
            action TEXT NOT NULL,           -- opt_out | opt_in
            categories TEXT NOT NULL,       -- JSON list; [] means everything
            event_id INTEGER REFERENCES events (id),  -- the change it pushes (none for a bulk import)
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            claimed_until TEXT,             -- a worker is pushing it until then
            sent_at TEXT,                   -- the provider accepted it
            failed_at TEXT,                 -- given up: the provider refused it for good
            last_error TEXT
        )""",
    "CREATE INDEX provider_pushes_pending ON provider_pushes (next_attempt_at) "
    "WHERE sent_at IS NULL AND failed_at IS NULL",
    "CREATE INDEX provider_pushes_by_address ON provider_pushes (address, id)",
)

# Which stage of understanding decided a message: the keyword table's rules, or the trained model behind
# them, and how sure the model was (its probability of what it read; NULL when the table decided).
migration(
    "m008_decision_stage",
    "ALTER TABLE messages ADD COLUMN stage TEXT NOT NULL DEFAULT 'table'",
    "ALTER TABLE messages ADD COLUMN confidence REAL",
)


# Erasure (GDPR Art. 17) keeps an erased person suppressed without their address: one row per scope they
# had opted out of, keyed by HMAC-SHA256 of the address under ERASURE_KEY (core/personal_data.py). Each
# erasure is recorded, without the address: when, by whom, what went and what stayed.
migration(
    "m009_erasures",
    """
        CREATE TABLE erased_suppressions (
            channel TEXT NOT NULL,
            digest TEXT NOT NULL,           -- HMAC-SHA256(ERASURE_KEY, channel + address), hex
            scope TEXT NOT NULL,            -- '*' for everything, or a category: kept suppressed
            since TEXT NOT NULL,            -- when the person opted out of it
            erased_at TEXT NOT NULL,
            PRIMARY KEY (channel, digest, scope)
        ) WITHOUT ROWID""",
    """
        CREATE TABLE erasures (
            id INTEGER PRIMARY KEY,
            erased_at TEXT NOT NULL,
            actor TEXT NOT NULL,            -- who asked: api:KEY, cli:USER, dashboard:OPERATOR
            channel TEXT NOT NULL,
            kept TEXT NOT NULL,             -- JSON list of the scopes kept suppressed
            removed TEXT NOT NULL,          -- JSON {table: rows removed}
            key_fingerprint TEXT NOT NULL   -- which ERASURE_KEY made the digests (never the key)
        )""",
)


# Named operators with roles, scoped API keys and the audit log of who did what (issue 25). A dashboard
# session now names its operator (NULL: the built-in admin of ADMIN_TOKEN), so that removing an operator or
# changing their password ends their sessions. The audit log is only ever appended to (handlers/storage/audit.py).
migration(
    "m010_operators",
    """
        CREATE TABLE operators (
            email TEXT PRIMARY KEY,         -- lower-cased
            role TEXT NOT NULL CHECK (role IN ('viewer', 'reviewer', 'admin')),
            password_hash TEXT,             -- Argon2id; NULL for one who only logs in by single sign-on
            created_at TEXT NOT NULL,
            password_changed_at TEXT
        )""",
    """
        CREATE TABLE api_keys (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            scope TEXT NOT NULL CHECK (scope IN ('check', 'read', 'write')),
            digest TEXT NOT NULL UNIQUE,    -- SHA-256 of the key; the key itself is shown once and not kept
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )""",
    "CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL",
    """
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,            -- an operator's email, key:NAME, admin (ADMIN_TOKEN), cli:USER
            action TEXT NOT NULL,           -- e.g. login, login_failed, review, export, api_key_added
            detail TEXT NOT NULL,
            client TEXT                     -- the client's address, as TRUSTED_PROXIES allows
        )""",
    "CREATE INDEX audit_log_at ON audit_log (at)",
    "ALTER TABLE admin_sessions ADD COLUMN operator TEXT",
    """
        CREATE TABLE server_secrets (
            name TEXT PRIMARY KEY,          -- e.g. dashboard sessions: signs the cookie when ADMIN_TOKEN is unset
            value TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
)


# Every change of consent, for the systems that subscribed to them (CONSENT_WEBHOOK_URLS): one row per
# change and URL, written in the same transaction as the change, POSTed by the mail worker in order
# per person (handlers/sync/consent_webhooks.py). The queue columns are the outbox's. `webhook_id` is
# the same on every attempt and every URL: receivers de-duplicate by it.
migration(
    "m011_consent_webhooks",
    """
        CREATE TABLE consent_webhooks (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL,
            webhook_id TEXT NOT NULL,       -- the webhook-id header: msg_ and random
            person TEXT NOT NULL,           -- channel:address (or a placeholder once withheld): delivered in order
            payload TEXT NOT NULL,          -- the JSON body, the same bytes on every attempt
            event_id INTEGER REFERENCES events (id),  -- the change it tells of (none for an erasure)
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            claimed_until TEXT,             -- a worker is delivering it until then
            sent_at TEXT,                   -- the receiver answered 2xx
            failed_at TEXT,                 -- given up: three days without a 2xx
            last_error TEXT
        )""",
    "CREATE INDEX consent_webhooks_pending ON consent_webhooks (next_attempt_at) "
    "WHERE sent_at IS NULL AND failed_at IS NULL",
    "CREATE INDEX consent_webhooks_by_person ON consent_webhooks (url, person, id)",
    "CREATE INDEX consent_webhooks_by_event ON consent_webhooks (event_id)",
)


# Brands (issue 27): one person's consent is kept per brand, the organisation a message was sent for
# (keywords.yaml `brands:`). '' is the first brand, so that every row written before brands existed
# belongs to it without this migration knowing any brand's name, and a file without `brands:` reads
# and writes only ''. A brand is part of consent's key, and of the erased and link keys beside it;
# messages and events say which brand they were recorded for. The tables whose key changes are
# rebuilt (SQLite cannot change a primary key in place).
migration(
    "m012_brands",
    """
        CREATE TABLE consent_by_brand (
            channel TEXT NOT NULL,
            address TEXT NOT NULL,
            brand TEXT NOT NULL DEFAULT '', -- '' for the first brand of keywords.yaml
            scope TEXT NOT NULL,            -- '*' for everything, or a category
            status TEXT NOT NULL CHECK (status IN ('out', 'in')),
            updated_at TEXT NOT NULL,
            PRIMARY KEY (channel, address, brand, scope)
        ) WITHOUT ROWID""",
    "INSERT INTO consent_by_brand (channel, address, brand, scope, status, updated_at) "
    "SELECT channel, address, '', scope, status, updated_at FROM consent",
    "DROP TABLE consent",
    "ALTER TABLE consent_by_brand RENAME TO consent",
    """
        CREATE TABLE erased_by_brand (
            channel TEXT NOT NULL,
            digest TEXT NOT NULL,           -- HMAC-SHA256(ERASURE_KEY, channel + address), hex
            brand TEXT NOT NULL DEFAULT '', -- '' for the first brand
            scope TEXT NOT NULL,            -- '*' for everything, or a category: kept suppressed
            since TEXT NOT NULL,            -- when the person opted out of it
            erased_at TEXT NOT NULL,
            PRIMARY KEY (channel, digest, brand, scope)
        ) WITHOUT ROWID""",
    "INSERT INTO erased_by_brand (channel, digest, brand, scope, since, erased_at) "
    "SELECT channel, digest, '', scope, since, erased_at FROM erased_suppressions",
    "DROP TABLE erased_suppressions",
    "ALTER TABLE erased_by_brand RENAME TO erased_suppressions",
    """
        CREATE TABLE links_by_brand (
            id TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            address TEXT NOT NULL,
            brand TEXT NOT NULL DEFAULT '', -- whose messages the link stops ('' for the first brand)
            created_at TEXT NOT NULL,
            UNIQUE (channel, address, brand)
        )""",
    "INSERT INTO links_by_brand (id, channel, address, brand, created_at) "
    "SELECT id, channel, address, '', created_at FROM links",
    "DROP TABLE links",
    "ALTER TABLE links_by_brand RENAME TO links",
    "ALTER TABLE messages ADD COLUMN brand TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE events ADD COLUMN brand TEXT NOT NULL DEFAULT ''",
)


# The keyword table every worker and node serves (issue 30): the last keywords.yaml that read well, its
# sha256 and the moment every worker switches to it, so that a broken edit, or a worker that has not
# looked at the file yet, never splits them (handlers/storage/keyword_tables.py). And which table each
# worker serves, and what is wrong with the file on its disk, for the dashboard.
migration(
    "m013_keyword_tables",
    """
        CREATE TABLE keyword_tables (
            name TEXT PRIMARY KEY,          -- 'current': the one row every worker serves
            checksum TEXT NOT NULL,         -- sha256 of content
            content TEXT NOT NULL,          -- keywords.yaml as it was when it last read well
            source TEXT NOT NULL,           -- host:path of the file it was read from
            saved_at TEXT NOT NULL,
            serve_from TEXT NOT NULL        -- every worker switches to it at this moment
        ) WITHOUT ROWID""",
    """
        CREATE TABLE keyword_servers (
            server TEXT PRIMARY KEY,        -- host:pid of a process serving requests
            checksum TEXT NOT NULL,         -- the table it serves
            file_error TEXT,                -- what is wrong with keywords.yaml on its disk, if anything
            seen_at TEXT NOT NULL
        ) WITHOUT ROWID""",
)


# A reviewer's correction may send the person one plain message saying what they are now subscribed to
# (issue 30): queued in the outbox beside confirmations, by email over SMTP or by SMS through Twilio's
# API, at most once per reviewed message.
migration(
    "m014_review_corrections",
    "ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'confirmation'",  # or 'correction'
    "CREATE UNIQUE INDEX outbox_one_correction ON outbox (message_id) WHERE kind = 'correction'",
)


def apply_migrations(conn, dialect: Dialect) -> list[str]:
    """Run the migrations `conn` has not run yet, each in a transaction of its own with the record that
    it ran; returns their names. `conn` is the store's (? placeholders, outside a transaction); the
    caller holds off other processes and nodes meanwhile (Database.migrate)."""
    for statement in dialect.migrations_table:
        conn.execute(statement)
    applied = {name for (name,) in conn.execute(dialect.applied_migrations).fetchall()}
    pending = [(name, statements) for name, statements in MIGRATIONS if name not in applied]
    for name, statements in pending:
        conn.execute("BEGIN")
        try:
            for statement in statements:
                conn.execute(dialect.ddl(statement))
            conn.execute(dialect.record_migration, (name, dialect.migration_time(datetime.now(timezone.utc))))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):  # the migration's own error is the one to report
                conn.execute("ROLLBACK")
            raise
    return [name for name, _ in pending]
