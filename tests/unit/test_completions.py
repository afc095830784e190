"""The committed shell completions are exactly what `cnictl --show-completion SHELL` prints, and they work."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_generator()
SHELLS = sorted(gen.COMPLETIONS)


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_file_is_current(shell: str) -> None:
    rel = gen.COMPLETIONS[shell]
    path = ROOT / rel
    assert path.is_file(), f"{rel} is missing: run `.venv/bin/python scripts/gen_docs.py`"
    assert path.read_text() == gen.completion(shell), (
        f"{rel} differs from `cnictl --show-completion {shell}`: run `.venv/bin/python scripts/gen_docs.py`"
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_file_is_machine_independent(shell: str) -> None:
    text = (ROOT / gen.COMPLETIONS[shell]).read_text()
    for local in (str(ROOT), sys.prefix, str(Path.home())):
        assert local not in text, f"{gen.COMPLETIONS[shell]} embeds the local path {local}"
    assert "cnictl" in text


def test_bash_completion_completes_commands() -> None:
    """What the bash script asks the program for: the candidates for `cnictl net c<TAB>`."""
    env = dict(os.environ, _CNICTL_COMPLETE="complete_bash", COMP_WORDS="cnictl net c", COMP_CWORD="2")
    p = subprocess.run(gen._cnictl_argv(), capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["create"]
