"""The PostgreSQL server the tests run against: it answers, and its databases are separate and droppable."""

import os

import psycopg
import pytest
from pg_server import PostgresUnavailable, create_database, drop_database, server_url


@pytest.fixture(scope="module")
def server() -> str:
    try:
        return server_url()
    except PostgresUnavailable as error:
        # In CI a missing server is a broken setup, not a reason to pass with the database tests unrun.
        if os.environ.get("CI") == "true":
            pytest.fail(str(error))
        pytest.skip(str(error))


def test_server_answers(server):
    with psycopg.connect(server) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_created_databases_are_separate(server):
    first, second = create_database(server), create_database(server)
    try:
        assert first != second
        with psycopg.connect(first) as conn:
            conn.execute("CREATE TABLE only_in_first (id int)")
        with psycopg.connect(second) as conn:
            assert conn.execute("SELECT to_regclass('only_in_first')").fetchone() == (None,)
        with psycopg.connect(first) as conn:
            assert conn.execute("SELECT to_regclass('only_in_first')").fetchone() == ("only_in_first",)
    finally:
        drop_database(server, first)
        drop_database(server, second)


def test_drop_removes_database_despite_open_connections(server):
    url = create_database(server)
    lingering = psycopg.connect(url)
    try:
        name = lingering.info.dbname
        drop_database(server, url)
        with pytest.raises(psycopg.OperationalError, match=name):
            psycopg.connect(url).close()
        with psycopg.connect(server) as conn:
            assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone() == (0,)
    finally:
        lingering.close()
