"""flask copy-database: SQLite to PostgreSQL and back, every table with its history, row for row."""

import pytest
from conftest import postgres_or_skip, twilio_params, twilio_post
from pg_server import create_database, drop_database

from handlers.storage.copy import TABLES
from handlers.storage.store import Store


@pytest.fixture
def postgres_url():
    server = postgres_or_skip()
    url = create_database(server)
    yield url
    drop_database(server, url)


def everything(location: str) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    store = Store(location)
    try:
        conn = store.connection()
        return {table: sorted(tuple(row) for row in conn.execute(f"SELECT * FROM {table}")) for table in TABLES}
    finally:
        store.close()


def copy(app, *args):
    return app.test_cli_runner().invoke(args=["copy-database", *args])


def test_a_database_moves_to_postgresql_and_back_row_for_row(app, client, settings, tmp_path, postgres_url):
    for body, sender in (("STOP", "+14155550101"), ("START", "+14155550101"), ("STOP PROMOS", "+14155550102"),
                         ("HELP", "+14155550103"), ("stop texting me", "+14155550104")):
        assert twilio_post(client, twilio_params(body, sender=sender)).status_code == 200
    source = f"sqlite:///{settings['DATABASE_PATH']}"

    result = copy(app, source, postgres_url)
    assert result.exit_code == 0, result.output
    assert "messages" in result.output and "events" in result.output
    original = everything(settings["DATABASE_PATH"])
    assert everything(postgres_url) == original
    assert len(original["messages"]) == 5 and len(original["events"]) >= 4

    back = tmp_path / "back.sqlite3"
    result = copy(app, postgres_url, f"sqlite:///{back}")
    assert result.exit_code == 0, result.output
    assert everything(str(back)) == original


def test_new_rows_continue_after_the_copied_ids(app, client, settings, postgres_url):
    for n in range(3):
        twilio_post(client, twilio_params("STOP", sender=f"+1415555020{n}"))
    assert copy(app, f"sqlite:///{settings['DATABASE_PATH']}", postgres_url).exit_code == 0
    store = Store(postgres_url)
    try:
        store.write(lambda conn: conn.execute(
            "INSERT INTO messages (channel, provider, provider_id, address, body, params, received_at, action, "
            "categories, rule) VALUES ('sms', 'twilio', 'SMnew', '+14155550299', 'STOP', '{}', 'now', 'none', "
            "'[]', 'no_match')"))
        ids = [r[0] for r in store.connection().execute("SELECT id FROM messages ORDER BY id")]
    finally:
        store.close()
    assert ids == [1, 2, 3, 4]


def test_a_target_holding_data_is_refused_unless_told(app, client, settings, postgres_url):
    twilio_post(client, twilio_params("STOP"))
    source = f"sqlite:///{settings['DATABASE_PATH']}"
    assert copy(app, source, postgres_url).exit_code == 0
    refused = copy(app, source, postgres_url)
    assert refused.exit_code == 1 and "already holds data" in refused.output and "--overwrite" in refused.output
    assert len(everything(postgres_url)["messages"]) == 1  # untouched
    assert copy(app, source, postgres_url, "--overwrite").exit_code == 0
    assert everything(postgres_url) == everything(settings["DATABASE_PATH"])


def test_an_unreachable_database_is_a_clear_error(app, tmp_path):
    result = copy(app, f"sqlite:///{tmp_path / 'a.sqlite3'}", "postgresql://nobody@127.0.0.1:1/none")
    assert result.exit_code == 1 and "copy-database:" in result.output and "127.0.0.1" in result.output
