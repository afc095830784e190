"""cnictl.ops keeps its public names while loading none of its modules up front (start-up of attach and the plugin)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import cnictl.ops as ops

ROOT = Path(__file__).resolve().parents[2]


def _loaded_after(code: str) -> list[str]:
    """cnictl.ops.* modules loaded in a fresh interpreter after running *code* (the work tree first on the path)."""
    probe = f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}; " \
            "print(sorted(m for m in sys.modules if m.startswith('cnictl.ops.')))"
    out = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True)
    return list(ast.literal_eval(out.stdout.strip()))


def test_every_public_name_resolves_to_the_module_that_defines_it() -> None:
    assert len(ops.__all__) >= 30
    for name in ops.__all__:
        value = getattr(ops, name)
        module = importlib.import_module(f"cnictl.ops.{ops._MODULE[name]}")
        assert getattr(module, name) is value, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        ops.no_such_use_case  # noqa: B018
    except AttributeError as e:
        assert "no_such_use_case" in str(e)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_package_loads_none_of_its_modules() -> None:
    assert _loaded_after("import cnictl.ops") == []


def test_one_name_loads_only_its_own_module_chain() -> None:
    loaded = _loaded_after("import cnictl.ops as o; o.ns_list")
    assert "cnictl.ops.namespaces" in loaded
    assert "cnictl.ops.networks" not in loaded and "cnictl.ops.firewall" not in loaded
