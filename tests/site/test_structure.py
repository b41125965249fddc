"""The apps' one-way structure, read from the source: every import under apps/ (inside functions
too, migrations left out) goes to the same app or to one below it in `vibeflow_site.layers.ORDER`,
and no files import each other in a circle. What must travel up goes through the lower app's
signals (docs/ARCHITECTURE.md, "The apps in their order")."""

from __future__ import annotations

import ast
from pathlib import Path

from vibeflow_site.layers import ORDER

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def sources() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in APPS.rglob("*.py")
        if "migrations" not in path.relative_to(APPS).parts
    }


def imports_of(path: Path, module: str, known: set[str]) -> list[tuple[int, str]]:
    """(line, imported module of ours) for every import in the file, at any depth."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # `from apps.x import y` runs apps.x (the package, when it is one) and imports the
            # module apps.x.y when there is one.
            names = [base] + [
                f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known
            ]
        for name in names:
            while name and name not in known:  # apps.x.models.Thing -> apps.x.models
                name = name.rpartition(".")[0]
            if name and name != module:
                found.append((node.lineno, name))
    return found


def app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "apps" else None


def graph() -> tuple[dict[str, set[str]], list[str]]:
    files = sources()
    known = set(files)
    edges: dict[str, set[str]] = {module: set() for module in files}
    upward = []
    for module, path in files.items():
        for line, target in imports_of(path, module, known):
            edges[module].add(target)
            here, there = app_of(module), app_of(target)
            if here and there and here != there and ORDER.index(there) > ORDER.index(here):
                upward.append(
                    f"{path.relative_to(ROOT)}:{line} ({here}) imports {target} ({there})"
                )
    return edges, upward


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of two or more files (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_every_app_is_in_the_declared_order():
    on_disk = {p.name for p in APPS.iterdir() if (p / "apps.py").exists()}
    assert on_disk == set(ORDER)


def test_no_app_imports_an_app_above_it():
    _, upward = graph()
    assert upward == [], "upward imports:\n" + "\n".join(upward)


def test_no_files_import_each_other_in_a_circle():
    found = circles(graph()[0])
    assert found == [], "circles of files:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_checker_sees_what_it_must(tmp_path):
    """The graph finds a relative import inside a function, and a circle of two files."""
    known = {"apps.a.one", "apps.a.two", "apps.a"}
    source = tmp_path / "one.py"
    source.write_text("def f():\n    from .two import thing\n")
    assert imports_of(source, "apps.a.one", known) == [(2, "apps.a.two")]
    # `from . import two` runs the package apps.a first: a circle when apps.a imports one.
    source.write_text("from . import two\n")
    assert imports_of(source, "apps.a.one", known) == [(1, "apps.a"), (1, "apps.a.two")]
    assert circles({"apps.a.one": {"apps.a.two"}, "apps.a.two": {"apps.a.one"}}) == [
        ["apps.a.one", "apps.a.two"]
    ]
    assert circles({"apps.a.one": {"apps.a.two"}, "apps.a.two": set()}) == []


def test_the_engines_know_nothing_of_django():
    """workers/ runs alone on a GPU pod: no Django, no apps, no site package."""
    found = []
    for path in sorted((ROOT / "workers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for name in names:
                if name.split(".")[0] in ("django", "apps", "vibeflow_site", "channels", "celery"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert found == []
