"""Import cost stays off the hot path: rich and tabulate load only where a human table or help is printed.

Each case runs cnictl in a fresh interpreter with `-X importtime` (as `python -m cnictl`, the same entry
point as the console script) and reads which top-level modules it imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from output_state import make_state

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("rich", "tabulate")


def imported(*argv: str, code: str | None = None, env: dict[str, str] | None = None) -> tuple[int, set[str], str]:
    """(exit code, top-level modules among HEAVY that were imported, stderr without the importtime lines)."""
    cmd = [sys.executable, "-X", "importtime", *(["-c", code] if code else ["-m", "cnictl", *argv])]
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "CNICTL_OUTPUT", "CNICTL_NETNS")}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT, env={**base, **(env or {})},
                       stdin=subprocess.DEVNULL)
    mods, rest = set(), []
    for line in p.stderr.splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip()
            if name in HEAVY:
                mods.add(name)
        else:
            rest.append(line)
    return p.returncode, mods, "\n".join(rest)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_state(tmp_path_factory.mktemp("imports") / "state")


def test_the_probe_sees_imports(state: Path) -> None:
    """Guard against a vacuous pass: a piped listing does import tabulate, help imports rich."""
    rc, mods, _ = imported("--state-dir", str(state), "net", "ls")
    assert rc == 0 and mods == {"tabulate"}
    rc, mods, _ = imported("--help")
    assert rc == 0 and "rich" in mods


@pytest.mark.parametrize("argv", [
    ("net", "inspect", "nosuch"),
    ("--json", "net", "inspect", "nosuch"),
    ("ipam", "show", "nosuch"),
    ("net", "ls", "--format", "bogus"),
    ("net", "ls", "--no-such-option"),
    ("net", "create", "lab", "--subnet", "10.20.0.0/24"),  # not root here, or refused: an error either way
], ids=lambda a: " ".join(a))
def test_error_paths_import_neither(state: Path, argv: tuple[str, ...]) -> None:
    env = {"CNICTL_STATE_DIR": str(state)}
    if argv[:2] == ("net", "create"):
        argv = ("--netns", "/nonexistent/cnictl/ns/net", *argv)  # fails before any change: no such namespace
    rc, mods, err = imported(*argv, env=env)
    assert rc != 0 and "cnictl" in err, err
    assert not mods, f"`cnictl {' '.join(argv)}` (exit {rc}) imported {sorted(mods)}: {err}"


def test_json_and_quiet_listings_import_neither(state: Path) -> None:
    for argv in (("--json", "net", "ls"), ("-q", "net", "ls"), ("--json", "ipam", "show")):
        rc, mods, err = imported("--state-dir", str(state), *argv)
        assert rc == 0, err
        assert not mods, f"`cnictl {' '.join(argv)}` imported {sorted(mods)}"


def test_a_rich_table_imports_rich_only(state: Path) -> None:
    rc, mods, _ = imported("--state-dir", str(state), "net", "ls", "--format", "table")
    assert rc == 0 and mods == {"rich"}


def test_the_one_line_result_of_a_change_imports_neither() -> None:
    """What `cnictl attach` prints once the change is made (State.finish), without needing root to make it."""
    code = textwrap.dedent("""
        import sys, types
        import cnictl.cli.main
        from cnictl.cli.options import State
        plan = types.SimpleNamespace(steps=[object()])
        outcome = types.SimpleNamespace(plan=plan, notices=["enabled IPv4 forwarding"], applied=True,
                                        result={"ifname": "eth0"})
        State().finish(outcome, "attached web to lab: eth0 10.20.0.2/24 (host side cni0123456789ab)", key="ifname")
        State(quiet=True).finish(outcome, "x", key="ifname")
    """)
    rc, mods, err = imported(code=code)
    assert rc == 0, err
    assert not mods, f"the result line imported {sorted(mods)}"


def test_importing_the_cli_loads_neither() -> None:
    rc, mods, err = imported(code="import cnictl.cli.main")
    assert rc == 0, err
    assert not mods
