"""Issue 9, in process (no root): the plugin's error codes and shapes (D), the default paths a state directory
moves (A), the caller's environment passed to plugins (C), the default emitted conflist (E), the launcher
that `cni install` writes, and the `cnictl cni` options (F)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from cnictl.cli import main
from cnictl.cni import emit, plugin
from cnictl.host import Host, Paths, resolve_paths
from cnictl.model import Attachment, Network, SubnetSpec
from cnictl.store import Store

ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/nonexistent/netns/x", "CNI_IFNAME": "eth0",
       "CNI_PATH": "/nonexistent"}


def conf(state: Path, **extra: Any) -> bytes:
    return json.dumps({"cniVersion": "1.0.0", "name": "lab", "type": "cnictl", "stateDir": str(state), **extra}).encode()


def err(env: dict[str, str], stdin: bytes) -> dict[str, Any]:
    code, out = plugin.run(env, stdin)
    assert code == 1, out
    obj = json.loads(out)
    assert isinstance(obj, dict) and set(obj) <= {"cniVersion", "code", "msg", "details"}, obj
    return obj


# ---- D: values from CNI_ARGS are environment (4), values from the configuration are config (7) ----------------
@pytest.mark.parametrize("args, name", [("IP=notanip", "IP"), ("IP=10.1.0.5,nope", "IP"), ("MAC=zz", "MAC"),
                                        ("IgnoreUnknown=1;MAC=01:00:00:00:00:01", "MAC")])
def test_bad_cni_args_values_are_code_4_naming_cni_args(tmp_path: Path, args: str, name: str) -> None:
    out = err({**ENV, "CNI_ARGS": args}, conf(tmp_path))
    assert out["code"] == 4, out
    assert "CNI_ARGS" in out["msg"] and name in out["msg"], out
    assert out["cniVersion"] == "1.0.0"


@pytest.mark.parametrize("extra, key", [
    ({"runtimeConfig": {"ips": ["notanip"]}}, "runtimeConfig.ips"),
    ({"args": {"cni": {"ips": ["10.1.0.5/24", "nope"]}}}, "args.cni.ips"),
    ({"runtimeConfig": {"mac": "zz"}}, "runtimeConfig.mac"),
    ({"args": {"cni": {"mac": "01:00:00:00:00:01"}}}, "args.cni.mac"),
])
def test_bad_runtime_config_and_args_values_are_code_7_naming_the_key(tmp_path: Path, extra: dict[str, Any],
                                                                       key: str) -> None:
    out = err(ENV, conf(tmp_path, **extra))
    assert out["code"] == 7 and f'"{key}"' in out["msg"], out
    assert out["cniVersion"] == "1.0.0"


def test_configuration_wins_over_cni_args_so_a_bad_cni_args_value_then_does_not_matter(tmp_path: Path) -> None:
    out = err({**ENV, "CNI_ARGS": "IP=notanip;MAC=zz"},
              conf(tmp_path, runtimeConfig={"ips": ["10.1.0.9"], "mac": "02:00:00:00:00:09"}))
    assert out["code"] == 3  # got as far as the (missing) namespace


@pytest.mark.parametrize("extra", [{"subnet": 5}, {"mtu": "1500"}, {"stateDir": "rel"}, {"network": 7},
                                   {"ipam": {"type": "a/b"}}, {"type": "../x"}, {"hairpinMode": "yes"},
                                   {"internal": "yes"}, {"runtimeConfig": {"portMappings": [{"hostPort": 0}]}}])
@pytest.mark.parametrize("version", ["1.0.0", "0.4.0", "1.1.0"])
def test_every_error_after_the_version_is_known_carries_it(tmp_path: Path, extra: dict[str, Any], version: str) -> None:
    out = err(ENV, conf(tmp_path, cniVersion=version, **extra))
    assert out["code"] == 7, out
    assert out.get("cniVersion") == version, out


def test_errors_before_the_version_is_accepted_carry_none(tmp_path: Path) -> None:
    assert "cniVersion" not in err(ENV, b"{")
    assert "cniVersion" not in err(ENV, json.dumps({"cniVersion": "1.0.0", "name": "a/b"}).encode())
    assert "cniVersion" not in err(ENV, conf(tmp_path, cniVersion="9.9.9"))


def test_check_reports_each_missing_address_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """prevResult lists the record's own address again: check_attachment must get it once (it checks the record's
    addresses anyway), and the error lists it once."""
    from cnictl import ops

    state = tmp_path / "s"
    with Host(state_dir=state) as host:
        store = Store(host.paths)
        store.save_network(Network("lab", "bridge", "br-lab", [SubnetSpec("10.1.0.0/24", "10.1.0.1")]))
        att = Attachment("lab", "c1", "/run/netns/x", "x", "eth0", "cniabc", "02:00:00:00:00:01", ["10.1.0.5/24"],
                         ["10.1.0.1"])
        store.save_attachment(att)
    seen: list[list[str]] = []

    def fake_check(host: Host, network: str, att: Attachment, netns: str, addresses: Any = (), routes: Any = (),
                   *, own_ipam: bool = True) -> list[str]:  # what the real one says when the interface lost its address
        seen.append(list(addresses))
        return [f"address {c} is missing from eth0 in {netns}" for c in [*att.addresses, *addresses]]

    monkeypatch.setattr(plugin, "_check_netns", lambda conf: None)
    monkeypatch.setattr(ops, "check_attachment", fake_check)
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "cniabc"}, {"name": "eth0", "sandbox": "/run/netns/x"}],
            "ips": [{"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 1},
                    {"address": "10.1.0.5/24", "interface": 1}, {"address": "10.1.0.77/24", "interface": 1}]}
    out = err({**ENV, "CNI_COMMAND": "CHECK", "CNI_NETNS": "/run/netns/x"}, conf(state, prevResult=prev))
    assert seen == [["10.1.0.77/24"]]
    assert out["code"] == plugin.CHECK_FAILED and out["cniVersion"] == "1.0.0"
    assert out["details"].count("10.1.0.5/24") == 1 and out["details"].count("10.1.0.77/24") == 1, out


def test_hairpin_mode_reaches_attach(tmp_path: Path) -> None:
    """hairpinMode: default true (podman and netavark always do it), false honoured."""
    base = json.loads(conf(tmp_path))
    assert plugin._conf("ADD", ENV, json.dumps(base).encode()).hairpin is True
    assert plugin._conf("ADD", ENV, json.dumps({**base, "hairpinMode": False}).encode()).hairpin is False
    assert plugin._conf("ADD", ENV, json.dumps({**base, "hairpinMode": True}).encode()).hairpin is True


def test_attachment_records_without_hairpin_still_load() -> None:
    old = {"network": "lab", "container_id": "c1", "netns": "x", "netns_key": "x", "ifname": "eth0",
           "host_ifname": "cniabc", "mac": "02:00:00:00:00:01", "addresses": [], "gateways": [], "created": "",
           "ports": []}
    assert Attachment.from_dict(old).hairpin is False


def test_bridge_driver_adds_hairpin_only_when_asked() -> None:
    from cnictl.drivers.bridge import BridgeDriver
    from cnictl.netlink.steps import SetHairpin
    from cnictl.netns import NetnsRef

    net = Network("lab", "bridge", "br-lab", [SubnetSpec("10.1.0.0/24", "10.1.0.1")])
    for asked in (False, True):
        att = Attachment("lab", "c1", "x", "x", "eth0", "cniabc", "02:00:00:00:00:01", [], [], hairpin=asked)
        plan = BridgeDriver().plan_attach(Host(state_dir="/nonexistent"), net, att, NetnsRef.parse("x"),
                                          object(), object())  # type: ignore[arg-type]
        hairpins = [s for s in plan.steps if isinstance(s, SetHairpin)]
        assert [(s.name, s.on) for s in hairpins] == ([("cniabc", True)] if asked else [])


# ---- A: one place for the default paths -------------------------------------------------------------------------
def test_a_state_dir_holds_every_default_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CNICTL_STATE_DIR", raising=False)
    p = resolve_paths("/tmp/d", None)
    assert (p.cni_cache_dir, p.cni_conf_dir) == (Path("/tmp/d/cni"), Path("/tmp/d/net.d"))
    assert (p.ipam_root, p.sysctl_dir) == (Path("/tmp/d/ipam"), Path("/tmp/d/sysctl.d"))
    h = resolve_paths(None, "h1")
    assert h.cni_cache_dir == Path("/var/lib/cnictl/netns/h1/cni") and h.cni_conf_dir.parent == h.state_dir
    monkeypatch.setenv("CNICTL_STATE_DIR", "/tmp/e")
    assert resolve_paths(None, None).cni_conf_dir == Path("/tmp/e/net.d")
    monkeypatch.delenv("CNICTL_STATE_DIR")
    m = resolve_paths(None, None)
    assert m == Paths.machine()
    assert (m.cni_cache_dir, m.cni_conf_dir) == (Path("/var/lib/cni"), Path("/etc/cni/net.d"))


def test_a_the_plugin_without_state_dir_uses_the_machine_places(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNICTL_STATE_DIR", "/tmp/not-the-plugins")
    c = plugin._conf("DEL", {**ENV, "CNI_COMMAND": "DEL"}, b'{"cniVersion": "1.0.0", "name": "lab"}')
    assert plugin._host(c).paths == Paths.machine()
    c = plugin._conf("DEL", {**ENV, "CNI_COMMAND": "DEL"}, conf(Path("/tmp/x")))
    assert plugin._host(c).paths == Paths.under(Path("/tmp/x"))


# ---- C: the caller's environment --------------------------------------------------------------------------------
@pytest.mark.parametrize("environ, original, want", [
    ({"PATH": "/b", "LC_CTYPE": "C.UTF-8"}, {"PATH": "/b"}, {"PATH": "/b"}),  # coercion added it
    ({"LC_CTYPE": "C.utf8"}, {}, {}),
    ({"LC_CTYPE": "C.UTF-8", "LANG": "C"}, {"LC_CTYPE": "C", "LANG": "C"}, {"LC_CTYPE": "C", "LANG": "C"}),  # changed
    ({"LC_CTYPE": "C.UTF-8"}, {"LC_CTYPE": "C.UTF-8"}, {"LC_CTYPE": "C.UTF-8"}),  # the caller's own
    ({"LC_CTYPE": "de_DE.UTF-8"}, {}, {"LC_CTYPE": "de_DE.UTF-8"}),  # set by the program: not coercion's
    ({"LC_CTYPE": "C.UTF-8", "LC_ALL": "C"}, {"LC_ALL": "C"}, {"LC_CTYPE": "C.UTF-8", "LC_ALL": "C"}),  # no coercion
    ({"X": "1"}, {}, {"X": "1"}),  # everything else the program set is kept
])
def test_c_only_the_coerced_locale_is_undone(environ: dict[str, str], original: dict[str, str],
                                            want: dict[str, str]) -> None:
    from cnictl.cni.environ import caller_environ

    assert caller_environ(environ, original=original) == want


def test_c_exec_environ_is_what_the_process_got() -> None:
    from cnictl.cni.environ import exec_environ

    code = "import json; from cnictl.cni.environ import caller_environ, exec_environ; " \
           "print(json.dumps([exec_environ(), caller_environ()]))"
    root = str(Path(__file__).resolve().parents[2])
    p = subprocess.run(["env", "-i", f"PYTHONPATH={root}", "CALLER=1", sys.executable, "-c", code],
                       capture_output=True, text=True, check=True)
    exec_env, passed = json.loads(p.stdout)
    assert exec_env == {"PYTHONPATH": root, "CALLER": "1"}
    assert passed == exec_env  # no LC_CTYPE=C.UTF-8 from PEP 538
    assert exec_environ() is not None


# ---- E: the default conflist ------------------------------------------------------------------------------------
def test_e_default_flavour_has_no_tuning_and_the_old_list_stays_available() -> None:
    net = Network("lab", "bridge", "br-lab", [SubnetSpec("10.20.0.0/24", "10.20.0.1")])
    assert [p["type"] for p in emit.conflist(net, "/x")["plugins"]] == ["bridge", "portmap"]
    assert [p["type"] for p in emit.conflist(net, "/x", "reference-tuning")["plugins"]] == ["bridge", "tuning", "portmap"]
    assert emit.conflist(net, "/x", "cnictl")["plugins"][0]["type"] == "cnictl"
    assert emit.DEFAULT_FLAVOUR == "reference" and set(emit.FLAVOURS) == {"reference", "reference-tuning", "cnictl"}


# ---- the launcher of `cni install` ------------------------------------------------------------------------------
def test_install_launcher_finds_the_dependencies_when_cnictl_runs_without_site(tmp_path: Path) -> None:
    """cnictl's own launcher runs `python -I -S`: sysconfig then names the system's site directory, not the
    virtualenv's, and the installed plugin could not import pyroute2 (podman: "No module named 'pyroute2'")."""
    from cnictl.cni.install import import_roots

    roots = import_roots()
    code = f"import sys; sys.path[:0] = {roots!r}; from cnictl.cni.install import import_roots; " \
           "import json; print(json.dumps(import_roots()))"
    p = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    under_s = json.loads(p.stdout)
    probe = "import pyroute2, cnictl.cni.plugin"
    subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = {under_s!r}; {probe}"], check=True,
                   cwd=tmp_path)


# ---- F: `cnictl cni` options ------------------------------------------------------------------------------------
CNI = typer.main.get_command(main.app).commands["cni"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(CNI.commands))
def test_f_every_cni_command_has_a_summary_and_meaningful_metavars(name: str) -> None:
    cmd = CNI.commands[name]
    assert (cmd.help or "").strip() and "\n" not in (cmd.help or "").strip().split("\n\n")[0], name
    for p in cmd.params:
        if getattr(p, "is_flag", False) or p.name == "help":
            continue
        assert p.metavar and p.metavar.upper() == p.metavar and not p.metavar.startswith("<"), (name, p.name, p.metavar)


@pytest.mark.parametrize("verb", ["add", "del", "check", "gc", "status", "version"])
def test_f_every_runtime_verb_takes_cache_dir(verb: str) -> None:
    assert "--cache-dir" in [o for p in CNI.commands[verb].params for o in p.opts]


@pytest.mark.parametrize("verb", ["status", "version"])
def test_f_status_and_version_accept_cache_dir(tmp_path: Path, verb: str) -> None:
    confdir, plugins = tmp_path / "net.d", tmp_path / "bin"
    confdir.mkdir()
    plugins.mkdir()
    fake = plugins / "fake"
    fake.write_text('#!/bin/sh\n[ "$CNI_COMMAND" = VERSION ] && '
                    'echo \'{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}\'\nexit 0\n')
    fake.chmod(0o755)
    (confdir / "10-lab.conflist").write_text(json.dumps({"cniVersion": "1.1.0", "name": "lab",
                                                         "plugins": [{"type": "fake"}]}))
    r = CliRunner().invoke(main.app, ["--state-dir", str(tmp_path / "s"), "cni", verb, "lab", "--conf-dir",
                                      str(confdir), "--cni-path", str(plugins), "--cache-dir", str(tmp_path / "c"),
                                      "--json"], env={"CNICTL_NETNS": None, "CNICTL_STATE_DIR": None})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["network"] == "lab"


def test_f_conf_dir_defaults_to_the_state_dir(tmp_path: Path) -> None:
    """Without --conf-dir, a --state-dir run reads STATE_DIR/net.d (not /etc/cni/net.d)."""
    state = tmp_path / "s"
    (state / "net.d").mkdir(parents=True)
    plugins = tmp_path / "bin"
    plugins.mkdir()
    (plugins / "fake").write_text("#!/bin/sh\nexit 0\n")
    (plugins / "fake").chmod(0o755)
    (state / "net.d" / "10-only-here.conflist").write_text(json.dumps(
        {"cniVersion": "1.0.0", "name": "only-here", "plugins": [{"type": "fake"}]}))
    r = CliRunner().invoke(main.app, ["--state-dir", str(state), "cni", "status", "only-here", "--cni-path",
                                      str(plugins), "--json"], env={"CNICTL_NETNS": None, "CNICTL_STATE_DIR": None,
                                                                    "NETCONFPATH": None})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["skipped"] is True  # 1.0.0: no STATUS, but the list was found
