"""core/ is headless (it never imports Qt) and core's packages, like app's modules,
import each other without cycles (docs/architecture.md, "Rules")."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
QT_MODULES = ("PySide6", "pyqtgraph", "superqt", "shiboken6")


def _imported_modules(source: Path) -> list[str]:
    """Every module `source` imports anywhere (top level, inside functions, under
    TYPE_CHECKING): a lazy import is still a dependency."""
    names = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            # `from core import paths` names the module in the alias.
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _unit_of(module: str) -> str | None:
    """The part of core a module belongs to: `core.ppo.trainer` -> `ppo`,
    `core.model.generate` -> `generate`; None outside core (or for `core` itself)."""
    parts = module.split(".")
    if parts[0] != "core" or len(parts) < 2:
        return None
    unit = parts[1]
    return unit if (CORE / unit).is_dir() or (CORE / f"{unit}.py").is_file() else None


def core_dependency_graph() -> dict[str, dict[str, set[str]]]:
    """{unit: {unit it imports: the files that do}} over core's packages and modules."""
    graph: dict[str, dict[str, set[str]]] = {}
    for source in CORE.rglob("*.py"):
        unit = source.relative_to(CORE).parts[0].removesuffix(".py")
        graph.setdefault(unit, {})
        for module in _imported_modules(source):
            target = _unit_of(module)
            if target is not None and target != unit:
                graph[unit].setdefault(target, set()).add(str(source.relative_to(CORE.parent)))
    return graph


def find_cycle(graph: dict[str, dict[str, set[str]]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None (depth-first search)."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        for target in sorted(graph.get(node, {})):
            cycle = visit(target, path + [node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_core_sources_import_no_qt():
    offenders = []
    for source in CORE.rglob("*.py"):
        offenders += [
            f"{source}: {name}"
            for name in _imported_modules(source)
            if name.split(".")[0] in QT_MODULES
        ]
    assert offenders == []


def test_importing_all_of_core_loads_no_qt():
    # Import every core module in a fresh interpreter and check sys.modules.
    code = (
        "import importlib, pkgutil, sys, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    if m.name != 'core.__main__': importlib.import_module(m.name)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


APP = CORE.parent / "app"


def _app_imports() -> dict[str, set[str]]:
    """{app module: the app modules it imports}, counting imports inside functions."""
    modules = {}
    for source in APP.rglob("*.py"):
        parts = source.relative_to(APP.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        imported = set()
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        modules[name] = imported
    return {
        name: {m for m in imported if m in modules and m != name}
        for name, imported in modules.items()
    }


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """An import path from `start` back to itself, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for imported in sorted(graph[module]):
            if imported == start:
                return [*path, start]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, [*path, imported]))
    return None


def test_app_modules_import_each_other_without_cycles():
    # e.g. app.main and app.self_test both need build_window: it lives in app.startup.
    graph = _app_imports()
    assert "app.startup" in graph["app.self_test"] and "app.self_test" in graph["app.main"]
    cycles = [cycle for module in graph if (cycle := _cycle_from(module, graph))]
    assert cycles == []


def test_core_packages_have_no_import_cycles():
    graph = core_dependency_graph()
    assert "rewards" in graph and "ppo" in graph  # the scan found core's packages
    cycle = find_cycle(graph)
    if cycle:
        steps = [
            f"{a} -> {b} ({', '.join(sorted(graph[a][b]))})"
            for a, b in zip(cycle, cycle[1:], strict=False)
        ]
        raise AssertionError("core packages import each other: " + "; ".join(steps))


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b": {"a.py"}}, "b": {"c": {"b.py"}}, "c": {"a": {"c.py"}}, "d": {}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": {"a.py"}}, "b": {}}) is None


def test_app_does_not_import_the_cli():
    # The GUI shares core's engine, not its command line (the workspace layout is core.paths).
    app = CORE.parent / "app"
    offenders = [
        f"{source}: {name}"
        for source in app.rglob("*.py")
        for name in _imported_modules(source)
        if name == "core.cli" or name.startswith("core.cli.")
    ]
    assert offenders == []
