"""The README, .env.example and the code agree on settings, URLs and commands."""

import re

import pytest
from conftest import ROOT

from handlers.settings import SETTINGS

SETTING_NAMES = {s.name for s in SETTINGS}
README = (ROOT / "README.md").read_text()


def test_env_example_lists_exactly_the_settings():
    names = {m.group(1) for m in re.finditer(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M)}
    assert names == SETTING_NAMES


def test_readme_configuration_table_lists_exactly_the_settings():
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(1) for m in re.finditer(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, re.M)}
    assert rows == SETTING_NAMES


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for p in
                                        [ROOT / "app.py", *(ROOT / "handlers").rglob("*.py")]
                                        if p.name != "settings.py"))
def test_only_the_settings_module_reads_the_environment(path):
    source = (ROOT / path).read_text()
    assert not re.search(r"os\.environ|getenv\(", source), f"{path} reads the environment directly"


def test_every_route_is_in_the_readme(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        documented = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
        assert f"`{sorted(rule.methods - {'HEAD', 'OPTIONS'})[0]} {documented}`" in README, rule.rule


def test_every_command_is_in_the_readme(app):
    for name in app.cli.commands:
        assert f"flask {name}" in README, name


def test_readme_starts_with_the_two_commands():
    assert "make run" in README and "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()
