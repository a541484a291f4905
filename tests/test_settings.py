"""Settings come from the environment, then a .env file in the working directory, then defaults."""

import os

from conftest import ROOT

from app import create_app
from handlers.settings import read_settings


def test_defaults():
    settings = read_settings({})
    assert settings["DATABASE_PATH"] == "data/optout.sqlite3"
    assert settings["KEYWORDS_PATH"] == "keywords.yaml"
    assert settings["DEFAULT_REGION"] == "US"
    assert settings["ADMIN_TOKEN"] is None and settings["TWILIO_AUTH_TOKEN"] is None


def test_an_empty_variable_counts_as_unset():
    assert read_settings({"DEFAULT_REGION": "", "ADMIN_TOKEN": ""})["DEFAULT_REGION"] == "US"


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(f"ADMIN_TOKEN=from-dotenv\nDEFAULT_REGION=FR\n"
                                   f"KEYWORDS_PATH={ROOT / 'keywords.yaml'}\n"
                                   f"DATABASE_PATH={tmp_path / 'db.sqlite3'}\n")
    monkeypatch.chdir(tmp_path)
    for name in ("ADMIN_TOKEN", "KEYWORDS_PATH", "DATABASE_PATH"):
        monkeypatch.setenv(name, "placeholder")  # so that monkeypatch restores "unset" afterwards
        monkeypatch.delenv(name)
    monkeypatch.setenv("DEFAULT_REGION", "GB")
    app = create_app()
    try:
        assert app.config["ADMIN_TOKEN"] == "from-dotenv"
        assert app.config["DEFAULT_REGION"] == "GB"
        assert os.path.exists(tmp_path / "db.sqlite3")
    finally:
        app.extensions["optout"].store.close()
