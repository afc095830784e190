"""The `cnictl` CNI plugin's dispatcher, in process, without namespaces: environment and stdin validation in
skel's order, error objects, VERSION, result shapes, GC of reservations, delegation refusals and `install`.

Numbers in test names refer to CNI.md section 1.3 (the plugin checklist)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cnictl.cni import plugin
from cnictl.cni import types as T
from cnictl.cni.install import install
from cnictl.host import Host
from cnictl.ipam.allocator import Lease, Range, parse_ip
from cnictl.ipam.hostlocal import HostLocalStore
from cnictl.model import Network, SubnetSpec
from cnictl.plan import Plan
from cnictl.store import Store

ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/nonexistent/netns/x", "CNI_IFNAME": "eth0",
       "CNI_PATH": "/nonexistent"}


def conf(state: Path, **extra: Any) -> bytes:
    return json.dumps({"cniVersion": "1.0.0", "name": "lab", "type": "cnictl", "stateDir": str(state), **extra}).encode()


def call(env: dict[str, str], stdin: bytes) -> tuple[int, Any]:
    code, out = plugin.run(env, stdin)
    if not out:
        return code, None
    return code, json.loads(out)


def err(env: dict[str, str], stdin: bytes) -> dict[str, Any]:
    code, out = call(env, stdin)
    assert code == 1, out
    assert isinstance(out, dict) and isinstance(out["code"], int) and isinstance(out["msg"], str)
    assert set(out) <= {"cniVersion", "code", "msg", "details"}
    return out


# ---- environment ---------------------------------------------------------------------------------
def test_01_unknown_command_is_code_4(tmp_path: Path) -> None:
    out = err({**ENV, "CNI_COMMAND": "FROB"}, conf(tmp_path))
    assert out == {"code": 4, "msg": "unknown CNI_COMMAND: FROB"}


def test_02_missing_command_is_code_4_naming_it(tmp_path: Path) -> None:
    out = err({k: v for k, v in ENV.items() if k != "CNI_COMMAND"}, conf(tmp_path))
    assert out["code"] == 4 and "CNI_COMMAND" in out["msg"]


@pytest.mark.parametrize("cmd", ["ADD", "CHECK"])
def test_03_add_check_list_every_missing_variable(tmp_path: Path, cmd: str) -> None:
    out = err({"CNI_COMMAND": cmd, "CNI_NETNS": ""}, conf(tmp_path))
    assert out["code"] == 4
    assert out["msg"] == "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing"


@pytest.mark.parametrize("missing", ["CNI_CONTAINERID", "CNI_IFNAME"])
def test_05_del_needs_container_id_and_ifname(tmp_path: Path, missing: str) -> None:
    env = {**ENV, "CNI_COMMAND": "DEL"}
    del env[missing]
    assert err(env, conf(tmp_path))["code"] == 4


def test_04_del_without_netns_succeeds_and_writes_nothing(tmp_path: Path) -> None:
    code, out = call({**ENV, "CNI_COMMAND": "DEL", "CNI_NETNS": ""}, conf(tmp_path / "s"))
    assert (code, out) == (0, None)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("cid", ["-x", "a/b", "a b", "../x", "x;y", "é"])
def test_06_container_id_checked_on_every_verb(tmp_path: Path, cid: str) -> None:
    for cmd in ("ADD", "DEL", "CHECK"):
        out = err({**ENV, "CNI_COMMAND": cmd, "CNI_CONTAINERID": cid}, conf(tmp_path))
        assert out["code"] == 4, (cmd, out)


@pytest.mark.parametrize("ifname", ["a" * 16, ".", "..", "a/b", "a:b", "a b", "a\tb"])
def test_07_ifname_rules(tmp_path: Path, ifname: str) -> None:
    for cmd in ("ADD", "DEL", "CHECK"):
        assert err({**ENV, "CNI_COMMAND": cmd, "CNI_IFNAME": ifname}, conf(tmp_path))["code"] == 4


# ---- stdin ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("stdin", [b"", b"{", b"[]", b"42", b'"x"', b"\xff\xfe", b"[" * 100000, b'{"name": 5}',
                                   b'{"name": "lab", "cniVersion": 1}', b'{"name":"lab","ipam":"x"}'])
def test_08_undecodable_stdin_is_code_6(stdin: bytes) -> None:
    assert err(ENV, stdin)["code"] == 6


@pytest.mark.parametrize("name", [None, "", "-lab", "a/b", "a b", "../etc"])
def test_08_bad_network_name_is_code_7(tmp_path: Path, name: Any) -> None:
    data = json.loads(conf(tmp_path))
    data["name"] = name
    assert err(ENV, json.dumps(data).encode())["code"] == 7


def test_08_order_env_before_json_before_name_before_version() -> None:
    assert err({"CNI_COMMAND": "ADD"}, b"{")["code"] == 4
    assert err(ENV, b"{")["code"] == 6
    assert err(ENV, b'{"cniVersion": "9.9.9"}')["code"] == 7  # name is checked before the version
    assert err(ENV, b'{"cniVersion": "9.9.9", "name": "lab"}')["code"] == 1


def test_09_unsupported_version_is_code_1_with_details(tmp_path: Path) -> None:
    out = err(ENV, conf(tmp_path, cniVersion="0.9.0"))
    assert out["code"] == 1 and out["msg"] == "incompatible CNI versions"
    assert out["details"].startswith('config is "0.9.0", plugin supports ["0.1.0"')


def test_09_absent_version_means_0_1_0(tmp_path: Path) -> None:
    data = json.loads(conf(tmp_path))
    del data["cniVersion"]
    out = err({**ENV, "CNI_COMMAND": "CHECK"}, json.dumps(data).encode())
    assert out["code"] == 1 and out.get("cniVersion") is None


def test_10_check_needs_0_4_and_gc_status_need_1_1(tmp_path: Path) -> None:
    assert err({**ENV, "CNI_COMMAND": "CHECK"}, conf(tmp_path, cniVersion="0.3.1"))["code"] == 1
    for cmd in ("GC", "STATUS"):
        assert err({"CNI_COMMAND": cmd}, conf(tmp_path, cniVersion="1.0.0"))["code"] == 1


def test_11_12_version_needs_nothing_and_lists_all(tmp_path: Path) -> None:
    for stdin in (b"", b"garbage", b'{"cniVersion": "0.4.0"}'):
        code, out = call({"CNI_COMMAND": "VERSION"}, stdin)
        assert code == 0
        assert out["supportedVersions"] == list(T.VERSIONS) and "1.1.0" in out["supportedVersions"]
    assert call({"CNI_COMMAND": "VERSION"}, b'{"cniVersion": "0.4.0"}')[1]["cniVersion"] == "0.4.0"
    assert call({"CNI_COMMAND": "VERSION"}, b"")[1]["cniVersion"] == "1.1.0"


def test_13_errors_carry_the_request_version(tmp_path: Path) -> None:
    out = err(ENV, conf(tmp_path, cniVersion="0.4.0"))
    assert out["cniVersion"] == "0.4.0" and out["code"] == 3  # the namespace does not exist


# ---- verb inputs ---------------------------------------------------------------------------------
def test_03_add_with_missing_namespace_is_code_3_and_writes_nothing(tmp_path: Path) -> None:
    out = err(ENV, conf(tmp_path / "s", subnet="10.77.0.0/24"))
    assert out["code"] == 3
    assert not (tmp_path / "s").exists()


def test_44_own_namespace_is_refused_with_code_8(tmp_path: Path) -> None:
    out = err({**ENV, "CNI_NETNS": "/proc/self/ns/net"}, conf(tmp_path / "s", subnet="10.77.0.0/24"))
    assert out["code"] == 8
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("path", ["/dev/null", "/", "relative-name!"])
def test_netns_that_is_not_a_namespace_is_refused(tmp_path: Path, path: str) -> None:
    assert err({**ENV, "CNI_NETNS": path}, conf(tmp_path))["code"] in (3, 4)


def test_40_reserved_keys_are_accepted(tmp_path: Path) -> None:
    stdin = conf(tmp_path, runtimeConfig={"aliases": {"lab": ["x"]}}, args={"cni": {"labels": []}},
                 capabilities={"portMappings": True}, **{"cni.dev/whatever": 1})
    assert err(ENV, stdin)["code"] == 3  # got as far as the namespace


@pytest.mark.parametrize("args, code", [("IP=10.1.0.5;", 4), ("K8S_POD_NAME=x", 4), ("A=b=c", 4),
                                        ("IgnoreUnknown=1;K8S_POD_NAME=x", 3), ("IgnoreUnknown=TRUE;X=1", 3),
                                        ("ignoreunknown=1;X=1", 4), ("", 3), ("IP=notanip", 4),
                                        ("MAC=01:00:00:00:00:01", 4)])  # CNI_ARGS is environment: 4 (issue 9 D)
def test_41_cni_args(tmp_path: Path, args: str, code: int) -> None:
    assert err({**ENV, "CNI_ARGS": args}, conf(tmp_path))["code"] == code


def test_43_types_naming_a_path_are_refused(tmp_path: Path) -> None:
    assert err(ENV, conf(tmp_path, type="../../sbin/reboot"))["code"] == 7
    assert err(ENV, conf(tmp_path, ipam={"type": "../../sbin/reboot"}))["code"] == 7


def test_43_delegate_lookup() -> None:
    from cnictl.cni.exec import find

    with pytest.raises(Exception, match="may not contain"):
        find("a/b", "/usr/bin")
    with pytest.raises(Exception, match="failed to find plugin") as e:
        find("nope", "/nonexistent:/also-not")
    assert e.value.cni_code == 50  # type: ignore[attr-defined]


@pytest.mark.parametrize("extra", [{"subnet": 5}, {"mtu": "1500"}, {"internal": "yes"}, {"stateDir": "rel"},
                                   {"network": 7}, {"runtimeConfig": {"portMappings": [{"hostPort": 0}]}},
                                   {"runtimeConfig": {"ips": "10.0.0.1"}}, {"runtimeConfig": {"mac": 5}}])
def test_bad_option_values_are_code_7(tmp_path: Path, extra: dict[str, Any]) -> None:
    assert err(ENV, conf(tmp_path, **extra))["code"] == 7


def test_29_check_without_prev_result(tmp_path: Path) -> None:
    assert err({**ENV, "CNI_COMMAND": "CHECK"}, conf(tmp_path))["code"] == 7


# ---- results -------------------------------------------------------------------------------------
def _outcome(net: Network) -> tuple[plugin.Conf, Any, Any]:
    c = plugin.Conf("ADD", "1.1.0", "lab", {}, b"", {"CNI_IFNAME": "eth0", "CNI_NETNS": "/run/netns/c"})
    att = {"host_ifname": "cniabc", "mac": "02:00:00:00:00:01", "gateways": ["10.1.0.1"]}
    reserve = SimpleNamespace(leases=[Lease(parse_ip("10.1.0.5"), 24, parse_ip("10.1.0.1"), 0)])
    return c, SimpleNamespace(result=att, plan=Plan()), reserve


NET = Network("lab", "bridge", "br-lab", [SubnetSpec("10.1.0.0/24", "10.1.0.1")], mtu=1400)


@pytest.mark.parametrize("version", ["1.1.0", "1.0.0", "0.4.0", "0.3.0", "0.2.0"])
def test_14_16_17_45_result_shapes(version: str) -> None:
    c, out, reserve = _outcome(NET)
    c.version = version
    res = plugin._result(c, NET, out, reserve, None)
    assert res["cniVersion"] == version
    if version == "0.2.0":
        assert res["ip4"] == {"ip": "10.1.0.5/24", "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]}
        return
    assert res["interfaces"][0] == ({"name": "cniabc", "mtu": 1400} if version == "1.1.0" else {"name": "cniabc"})
    ctr = res["interfaces"][1]
    assert ctr["name"] == "eth0" and ctr["sandbox"] == "/run/netns/c"
    ip = res["ips"][0]
    assert res["interfaces"][ip["interface"]] is ctr
    assert ("version" in ip) == (version < "1.0.0")
    assert "dns" not in res


def test_18_prev_result_is_kept_and_extended() -> None:
    c, out, reserve = _outcome(NET)
    prev = T.normalise_result({"cniVersion": "1.0.0", "interfaces": [{"name": "x0"}],
                               "ips": [{"address": "192.0.2.9/24", "interface": 0}], "dns": {"nameservers": ["192.0.2.53"]}})
    res = plugin._result(c, NET, out, reserve, prev)
    assert [i["name"] for i in res["interfaces"]] == ["x0", "cniabc", "eth0"]
    assert res["ips"][0] == {"address": "192.0.2.9/24", "interface": 0}
    assert res["ips"][1]["interface"] == 2
    assert res["dns"] == {"nameservers": ["192.0.2.53"]}


# ---- GC (state only) -----------------------------------------------------------------------------
def test_33_34_35_gc_releases_reservations_not_in_the_valid_list(tmp_path: Path) -> None:
    state = tmp_path / "s"
    with Host(state_dir=state) as host:
        Store(host.paths).save_network(Network("lab", "bridge", "br-lab", [SubnetSpec("10.1.0.0/24", "10.1.0.1")]))
        ipam = HostLocalStore(host.paths.ipam_root / "lab")
        rng = [Range.build("10.1.0.0/24")]
        for cid in ("keep", "drop"):
            ipam.allocate(rng, cid, "eth0")
    stdin = json.loads(conf(state, cniVersion="1.1.0"))
    for key in ("cni.dev/valid-attachments", "cni.dev/attachments"):
        data = {**stdin, key: [{"containerID": "keep", "ifname": "eth0"}]}
        assert call({"CNI_COMMAND": "GC", "CNI_CONTAINERID": "", "CNI_NETNS": "", "CNI_IFNAME": ""},
                    json.dumps(data).encode()) == (0, None)
        assert sorted(a.container_id for a in ipam.allocations()) == ["keep"]
    # no list at all: nothing is known to be stale, nothing goes
    assert call({"CNI_COMMAND": "GC"}, json.dumps(stdin).encode()) == (0, None)
    assert len(ipam.allocations()) == 1
    # an empty list: everything is stale
    assert call({"CNI_COMMAND": "GC"}, json.dumps({**stdin, "cni.dev/valid-attachments": []}).encode()) == (0, None)
    assert ipam.allocations() == []


def test_37_38_status(tmp_path: Path) -> None:
    stdin = json.loads(conf(tmp_path / "s", cniVersion="1.1.0"))
    assert err({"CNI_COMMAND": "STATUS"}, json.dumps(stdin).encode())["code"] == 50  # no such network


# ---- install -------------------------------------------------------------------------------------
def test_install_writes_an_executable_launcher(tmp_path: Path) -> None:
    out = install(str(tmp_path / "bin"))
    path = Path(out["path"])
    assert path == tmp_path / "bin" / "cnictl"
    mode = path.stat().st_mode
    assert stat.S_IMODE(mode) == 0o755
    if os.geteuid() == 0:
        assert path.stat().st_uid == 0
    assert out["launcher"].startswith("#!/bin/sh\nexec ") and " -I -S -c " in out["launcher"]
    assert "from cnictl.cni.plugin import main" in out["launcher"]
    p = subprocess.run([str(path)], input=b"", env={"CNI_COMMAND": "VERSION"}, capture_output=True, timeout=30,
                       cwd=tmp_path)
    assert p.returncode == 0 and json.loads(p.stdout)["cniVersion"] == "1.1.0"


def test_05_stdin_that_cannot_be_read_is_code_5(tmp_path: Path) -> None:
    """stdin open for writing only: read() fails (EBADF); the plugin answers with one error object, code 5."""
    exe = Path(sys.executable).with_name("cnictl-cni")
    fd = os.open(tmp_path / "stdin", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        p = subprocess.run([str(exe)], stdin=fd, env={**ENV, "PATH": os.environ["PATH"]}, capture_output=True,
                           timeout=30)
    finally:
        os.close(fd)
    assert p.returncode == 1, p
    out = json.loads(p.stdout)
    assert out["code"] == T.IO_FAILURE and "stdin" in out["msg"]
    assert [f.name for f in tmp_path.iterdir()] == ["stdin"]
