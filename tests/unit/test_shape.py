"""The shape of the code base (issue 10): small modules, no import cycle, drivers own what a driver is.

These read the source with `ast`; nothing is imported or run.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "cnictl"
MAX_LINES = 600
# Every name a driver has been registered under, and the ones planned; a comparison of any of them outside
# cnictl/drivers/ means knowledge of a driver leaked out of its module.
DRIVER_NAMES = {"bridge", "macvlan", "ipvlan", "vxlan", "routed"}
# cnictl/netlink/ speaks the kernel's link kinds ("bridge", "macvlan"), which are not driver names.
DRIVER_NAME_FREE_ZONES = ("drivers", "netlink")


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(mod: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """cnictl modules that *mod* imports at run time: at module level and inside functions (not TYPE_CHECKING)."""
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    deps: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.orelse:
                    visit_one(stmt)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "cnictl":
                    deps.add(_resolve(alias.name, mods) or "")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.split(".")[0] == "cnictl":
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    deps.add((full if full in mods else _resolve(base, mods)) or "")
        visit(node)

    visit(ast.parse(path.read_text(), str(path)))
    deps.discard("")
    deps.discard(mod)
    return deps


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                connect(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_no_module_over_600_lines() -> None:
    big = {}
    for mod, path in modules().items():
        n = len(path.read_text().splitlines())
        if n > MAX_LINES:
            big[mod] = n
    assert not big, f"modules over {MAX_LINES} lines (split them by topic): {big}"


def test_no_import_cycle() -> None:
    mods = modules()
    graph = {m: imports_of(m, p, mods) for m, p in mods.items()}
    # a package's __init__ importing its own submodules is not a cycle by itself; a submodule importing its
    # package's __init__ back is (it is what makes the order of imports matter).
    found = cycles(graph)
    assert not found, "import cycles (move the shared part into a module both can import): " + "; ".join(
        " <-> ".join(c) for c in found)


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def _strings(node: ast.AST | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for e in node.elts for s in _strings(e)]
    return []


def driver_name_comparisons(source: str, filename: str = "<src>") -> list[tuple[int, str]]:
    """(line, name) of each comparison with a driver name: `x == "bridge"`, `d in ("macvlan", "ipvlan")`,
    `case "bridge":`, and dispatch tables keyed by driver name used with `.get(driver)`/`[driver]`."""
    hits: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        names: set[str] = set()
        if isinstance(node, ast.Compare):
            names = set(_strings(node.left))
            for comp in node.comparators:
                names |= set(_strings(comp))
        elif isinstance(node, ast.MatchValue):
            names = set(_strings(node.value))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and isinstance(node.func.value, ast.Dict):
            names = {s for k in node.func.value.keys for s in _strings(k)}
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
            names = {s for k in node.value.keys for s in _strings(k)}
        for name in sorted(names & DRIVER_NAMES):
            hits.append((node.lineno, name))
    return hits


def test_driver_name_detector() -> None:
    src = ('a = net.driver == "bridge"\nb = d in ("macvlan", "ipvlan")\nc = {"macvlan": 1}.get(d)\n'
           'match d:\n    case "bridge":\n        pass\nok = link.kind\n')
    assert driver_name_comparisons(src) == [(1, "bridge"), (2, "ipvlan"), (2, "macvlan"), (3, "macvlan"),
                                            (5, "bridge")]
    assert driver_name_comparisons('x = "bridge"\ny = {"bridge": "--bridge"}\n') == []


def test_no_driver_name_comparisons_outside_drivers() -> None:
    leaks = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] in DRIVER_NAME_FREE_ZONES:
            continue
        for line, name in driver_name_comparisons(path.read_text(), str(path)):
            leaks.append(f"cnictl/{rel}:{line} ({name})")
    assert not leaks, "driver names compared outside cnictl/drivers/ (ask the driver instead): " + ", ".join(leaks)


@pytest.mark.parametrize("zone", DRIVER_NAME_FREE_ZONES)
def test_free_zones_exist(zone: str) -> None:
    assert (PKG / zone).is_dir()
