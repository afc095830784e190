"""Import rules between cnictl's layers (read from the source with ast), and the CLI's import-time budget.

Every import statement counts, including those inside functions and `if TYPE_CHECKING:` blocks, plus
`importlib.import_module("...")`/`__import__("...")` calls with a literal name.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "cnictl"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """Absolute dotted names this module imports (`from a import b` gives a.b when that is a cnictl module, else a)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


IMPORTS = {name: imports_of(path) for name, path in MODULES.items()}


def importers_of(top: str) -> set[str]:
    return {mod for mod, names in IMPORTS.items() if any(n == top or n.startswith(top + ".") for n in names)}


def test_the_scanner_sees_imports() -> None:
    """Guard against a vacuous pass: the known imports are found."""
    assert "cnictl.netlink" in importers_of("pyroute2")
    assert "cnictl.firewall.nftables" in importers_of("nftables")
    assert "cnictl.render.output" in importers_of("tabulate")
    assert "cnictl.errors" in IMPORTS["cnictl.plan"]


def test_only_the_netlink_package_imports_pyroute2() -> None:
    outside = sorted(m for m in importers_of("pyroute2") if m != "cnictl.netlink" and not m.startswith("cnictl.netlink."))
    assert not outside, f"only cnictl/netlink/ may import pyroute2; also imported by: {outside}"


def test_only_the_nftables_backend_imports_nftables() -> None:
    # the backend package's __init__ only: its rules.py and leftovers.py are pure (fast unit tests, no libnftables)
    outside = sorted(importers_of("nftables") - {"cnictl.firewall.nftables"})
    assert not outside, f"only cnictl/firewall/nftables/__init__.py may import nftables; also imported by: {outside}"


def test_cli_does_not_import_netlink() -> None:
    offenders = sorted(m for m in importers_of("cnictl.netlink") if m.startswith("cnictl.cli"))
    assert not offenders, f"cnictl/cli/ must go through cnictl.ops, not cnictl.netlink: {offenders}"


RENDER_ALLOWED_THIRD_PARTY = {"tabulate", "rich"}
RENDER_ALLOWED_CNICTL = {"cnictl.model", "cnictl.plan", "cnictl.errors"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("cnictl.render")))
def test_render_imports_only_stdlib_tables_and_model(module: str) -> None:
    bad = []
    for name in sorted(IMPORTS[module]):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in RENDER_ALLOWED_THIRD_PARTY:
            continue
        if name.startswith("cnictl.render") or any(name == a or name.startswith(a + ".") for a in RENDER_ALLOWED_CNICTL):
            continue
        bad.append(name)
    assert not bad, f"{module} may import only the stdlib, tabulate/rich, cnictl.model/plan/errors; it imports {bad}"


def test_cli_import_loads_no_heavy_modules() -> None:
    """Import-time budget: `cnictl --help` must not pay for pyroute2, nftables or tabulate."""
    code = (
        "import cnictl.cli.main, sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyroute2','nftables','tabulate')))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]", f"importing cnictl.cli.main loaded: {p.stdout.strip()}"
