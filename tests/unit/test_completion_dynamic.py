"""Dynamic completion for real: the cnictl program answers bash, zsh and fish the way their scripts ask
(completions/), with the networks of the state directory the command line names and the namespaces of
/run/netns; and a completer never fails, whatever it finds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from cnictl.cli import complete, main

ROOT = Path(__file__).resolve().parents[2]
CNICTL = Path(sys.executable).with_name("cnictl")
NETS = {"alpha-lab": ("bridge", "10.20.0.0/24"), "alpine": ("macvlan", "192.168.1.0/24"), "beta": ("bridge", "fd00:1::/64")}


def argv0() -> list[str]:
    if CNICTL.is_file() and os.access(CNICTL, os.X_OK):
        return [str(CNICTL)]
    return [sys.executable, "-c", "import sys; sys.argv[0] = 'cnictl'; from cnictl.cli.entry import main; main()"]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    (d / "networks").mkdir(parents=True)
    for name, (driver, subnet) in NETS.items():
        (d / "networks" / f"{name}.json").write_text(json.dumps({"name": name, "driver": driver,
                                                                 "subnets": [{"subnet": subnet}]}))
    (d / "networks" / "notes.txt").write_text("not a network")
    return d


def ask(env: dict[str, str]) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("_CNICTL", "COMP_", "_TYPER", "CNICTL_"))}
    p = subprocess.run(argv0(), capture_output=True, text=True, timeout=60, env={**base, **env}, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    return [ln for ln in p.stdout.splitlines() if ln]


def bash(words: str, env: dict[str, str] | None = None) -> list[str]:
    parts = words.split()
    cword = len(parts) if words.endswith(" ") else len(parts) - 1
    return ask({"_CNICTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword), **(env or {})})


def test_bash_completes_network_names_from_the_state_dir_option(state: Path) -> None:
    assert bash(f"cnictl --state-dir {state} net inspect ") == sorted(NETS)
    assert bash(f"cnictl --state-dir {state} net inspect alp") == ["alpha-lab", "alpine"]
    assert bash(f"cnictl --state-dir {state} attach b") == ["beta"]
    assert bash(f"cnictl --state-dir {state} ipam show ") == sorted(NETS)


def test_bash_honours_cnictl_state_dir(state: Path, tmp_path: Path) -> None:
    assert bash("cnictl net rm al", {"CNICTL_STATE_DIR": str(state)}) == ["alpha-lab", "alpine"]
    empty = tmp_path / "empty"
    assert bash(f"cnictl --state-dir {empty} net rm al", {"CNICTL_STATE_DIR": str(state)}) == [], \
        "--state-dir on the command line wins over the environment"


def test_zsh_gets_names_with_descriptions(state: Path) -> None:
    out = "\n".join(ask({"_CNICTL_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": f"cnictl --state-dir {state} port ls "}))
    for name, (driver, _) in NETS.items():
        assert f'"{name}":"{driver} ' in out, out


def test_fish_gets_tab_separated_names_and_descriptions(state: Path) -> None:
    lines = ask({"_CNICTL_COMPLETE": "complete_fish", "_TYPER_COMPLETE_FISH_ACTION": "get-args",
                 "_TYPER_COMPLETE_ARGS": f"cnictl --state-dir {state} fw show alp"})
    assert lines == ["alpha-lab\tbridge 10.20.0.0/24", "alpine\tmacvlan 192.168.1.0/24"]


def test_a_missing_or_broken_state_dir_completes_nothing_quietly(state: Path, tmp_path: Path) -> None:
    assert bash(f"cnictl --state-dir {tmp_path / 'nope'} net inspect ") == []
    (state / "networks" / "alpine.json").write_text("{not json")
    assert bash(f"cnictl --state-dir {state} net inspect alp") == ["alpha-lab", "alpine"]
    lines = ask({"_CNICTL_COMPLETE": "complete_fish", "_TYPER_COMPLETE_FISH_ACTION": "get-args",
                 "_TYPER_COMPLETE_ARGS": f"cnictl --state-dir {state} net inspect alp"})
    assert lines == ["alpha-lab\tbridge 10.20.0.0/24", "alpine"]


def test_fixed_choices_complete(state: Path) -> None:
    assert bash("cnictl net ls --format t") == ["table", "tsv"]
    assert bash("cnictl --firewall n") == ["nftables", "none"]
    assert bash("cnictl net create x --driver m") == ["macvlan"]


# ---- in-process: namespaces and --netns without root ---------------------------------------------
def complete_in_process(words: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    parts = words.split()
    cword = len(parts) if words.endswith(" ") else len(parts) - 1
    for k in ("CNICTL_STATE_DIR", "CNICTL_NETNS"):
        monkeypatch.delenv(k, raising=False)
    r = CliRunner().invoke(main.app, [], prog_name="cnictl",
                           env={"_CNICTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword), **env})
    return [ln for ln in r.output.splitlines() if ln]


def test_namespace_arguments_complete_names_under_run_netns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_netns = tmp_path / "netns"
    run_netns.mkdir()
    for n in ("web", "web2", "db"):
        (run_netns / n).touch()
    monkeypatch.setattr(complete, "NETNS_DIR", str(run_netns))
    assert complete_in_process("cnictl attach lab w", monkeypatch) == ["web", "web2"]
    assert complete_in_process("cnictl ns rm ", monkeypatch) == ["db", "web", "web2"]
    assert complete_in_process("cnictl ns exec d", monkeypatch) == ["db"]
    assert complete_in_process("cnictl --netns w", monkeypatch) == ["web", "web2"]
    assert complete_in_process("cnictl link add w", monkeypatch) == ["web", "web2"]
    monkeypatch.setattr(complete, "NETNS_DIR", str(tmp_path / "absent"))
    assert complete_in_process("cnictl ns rm ", monkeypatch) == []


def test_network_completion_follows_netns_given_earlier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --netns HOST and no --state-dir, cnictl keeps HOST's state under DEFAULT_STATE_DIR/netns/HOST."""
    import cnictl.host

    monkeypatch.setattr(cnictl.host, "DEFAULT_STATE_DIR", str(tmp_path / "var"))
    nets = tmp_path / "var" / "netns" / "sandbox" / "networks"
    nets.mkdir(parents=True)
    (nets / "inside.json").write_text("{}")
    assert complete_in_process("cnictl --netns sandbox net inspect ", monkeypatch) == ["inside"]
    assert complete_in_process("cnictl net inspect ", monkeypatch, CNICTL_NETNS="sandbox") == ["inside"]
    assert complete_in_process("cnictl --netns other net inspect ", monkeypatch) == []


def fake_ctx(**params: Any) -> Any:
    root = SimpleNamespace(params=params, parent=None)
    return SimpleNamespace(params={"name": None}, parent=root)


def test_state_dir_resolution_matches_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from cnictl.host import resolve_paths

    monkeypatch.delenv("CNICTL_STATE_DIR", raising=False)
    monkeypatch.delenv("CNICTL_NETNS", raising=False)
    for params in ({}, {"netns": "hx"}, {"state_dir": "/tmp/sd"}, {"netns": "hx", "state_dir": "/tmp/sd"},
                   {"netns": "/proc/1/ns/net"}):
        from cnictl.netns import NetnsRef

        key = NetnsRef.parse(params["netns"]).key if params.get("netns") else None
        assert complete.state_dir(fake_ctx(**params)) == str(resolve_paths(params.get("state_dir"), key).state_dir)


def test_completers_never_raise() -> None:
    for bad in (None, object(), SimpleNamespace(params=None, parent=None),
                fake_ctx(netns="bad name!"), fake_ctx(state_dir=123)):
        assert isinstance(complete.networks(bad, [], ""), list)
        assert isinstance(complete.namespaces(bad, [], ""), list)
