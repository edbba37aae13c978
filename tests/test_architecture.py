"""The package's shape, checked statically: no import cycle inside vadbench, plugins that use only
the public API, light commands that never import torch, and unambiguous installed names."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "vadbench"
OUTSIDE = [REPO / "baselines", REPO / "plugins"]  # code that must use vadbench's public API only


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """Every import in ``path`` (top level, in functions and under TYPE_CHECKING): (module, names)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.append((base, [alias.name for alias in node.names]))
    return found


def internal_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, names in imports(path):
            candidates = [f"{target}.{n}" for n in names] + [target]
            for candidate in candidates:
                if candidate in modules and candidate != name:
                    graph[name].add(candidate)
                    break
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_inside_vadbench():
    cycle = find_cycle(internal_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_plugins_and_baselines_import_only_the_public_api():
    import vadbench

    public = set(vadbench.__all__)
    offences = []
    for path in (p for folder in OUTSIDE for p in folder.rglob("*.py")):
        for target, names in imports(path):
            if target.startswith("vadbench.") or (target == "vadbench" and not set(names) <= public):
                offences.append(f"{path.relative_to(REPO)}: {target} {sorted(set(names) - public)}")
    assert not offences, "\n".join(offences)


def test_every_public_name_resolves():
    import vadbench

    for name in vadbench.__all__:
        assert getattr(vadbench, name) is not None, name


@pytest.mark.parametrize("args", [("list",), ("table", str(REPO / "leaderboards" / "ped2" / "runs"))])
def test_list_and_table_never_import_torch(args):
    code = ("import sys, runpy\n"
            f"sys.argv = ['vadbench', *{list(args)!r}]\n"
            "from vadbench.cli import main\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_wheel_installs_no_ambiguous_top_level_names(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(REPO)], capture_output=True, text=True)
    if built.returncode != 0 and "No module named" in built.stderr:
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("vadbench-*.whl")
    top = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert not top & {"plugins", "baselines", "tests"}, sorted(top)
    assert "vadbench" in top and "vadbench_baselines" in top
