"""The package's layers, read from the source: each imports only the layers below it, the module graph
has no cycles, and Flask and SQL drivers stay in the layers that own them."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "handlers"
# Lowest first. The top of handlers/ (wiring: services, settings, gunicorn, the simulator's requests) sits
# above them all, and the `flask` commands (handlers/commands/) above the wiring they use.
LAYERS = ("core", "storage", "email", "providers", "sync", "web", "", "commands")
# Third-party packages that belong to one job, and the layers allowed to import them.
OWNED = {
    "flask": {"web", "", "commands"},
    "werkzeug": {"web", "", "commands"},
    "sqlite3": {"storage"},
    "sqlite_utils": {"storage"},
    "psycopg": {"storage"},
    "psycopg_pool": {"storage"},
    "smtplib": {"email"},
    "requests": {"providers"},
    "cryptography": {"providers"},
    "argon2": {"core"},
    "authlib": {"web"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else ""


def imports(path: Path) -> set[str]:
    """Every module `path` imports (relative imports resolved; names imported from a package count as
    that package's modules when they are modules)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            for alias in node.names:
                if (PACKAGE.parent / (base.replace(".", "/") + f"/{alias.name}.py")).exists():
                    found.add(f"{base}.{alias.name}")
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: {m for m in imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def test_the_package_has_its_layers():
    assert {layer(m) for m in MODULES} == set(LAYERS)
    assert len([m for m in MODULES if m.count(".") == 1 and layer(m) == ""]) <= 8


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module):
    own = LAYERS.index(layer(module))
    above = sorted(m for m in GRAPH[module] if LAYERS.index(layer(m)) > own)
    assert not above, f"{module} ({layer(module) or 'top'}) imports {above}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_libraries_stay_in_the_layers_that_own_them(module):
    wrong = sorted(m for m in imports(MODULES[module])
                   if m.split(".")[0] in OWNED and layer(module) not in OWNED[m.split(".")[0]])
    assert not wrong, f"{module} ({layer(module) or 'top'}) imports {wrong}"


def test_the_import_graph_has_no_cycles():
    done, path = set(), []

    def visit(name):
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(name):] + [name]))
        if name in done:
            return
        path.append(name)
        for other in sorted(GRAPH[name]):
            visit(other)
        path.pop()
        done.add(name)

    for name in sorted(GRAPH):
        visit(name)
