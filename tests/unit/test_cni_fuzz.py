"""Fuzz the `cnictl` CNI plugin: 10,000+ generated and mutated (environment, stdin) pairs through `plugin.run()`
in process, and a sample through the real `cnictl-cni` executable.

For every input: no exception escapes; a failure is exit 1 with exactly one error object on stdout whose code
is a spec code (CNI.md 1.1), and the code an independent model of skel's checks (env, JSON, name, version,
in that order) predicts; a success only for input that passes those checks. The state directory (which holds
one network record) is byte-for-byte unchanged afterwards. No input can reach the kernel: every CNI_NETNS is
missing, not a namespace, or the test's own (refused with code 8), and IPAM plugins are fakes in a temp dir.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cnictl.cni import plugin
from cnictl.cni import types as T
from cnictl.host import Host
from cnictl.model import Network, SubnetSpec
from cnictl.store import Store

N_CASES = 10_500
N_SUBPROCESS = 50
ALLOWED_CODES = {1, 2, 3, 4, 5, 6, 7, 8, 11, 50, 51, 999}
COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")
CLI = str(Path(sys.executable).with_name("cnictl-cni"))

FAKE_IPAM = """#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
  ADD) echo '{"cniVersion":"1.0.0","ips":[{"address":"10.66.0.5/24","gateway":"10.66.0.1"}]}';;
  STATUS) echo '{"code":50,"msg":"fake not ready"}'; exit 1;;
esac
exit 0
"""


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_mode, p.read_bytes() if p.is_file() else b"")
    return out


def expected_code(env: dict[str, str], stdin: bytes) -> int | None:
    """The code skel's pre-verb checks give, in skel's order; None when the input passes them."""
    cmd = env.get("CNI_COMMAND", "")
    if cmd not in COMMANDS:
        return 4
    if cmd == "VERSION":
        return None
    need = {"ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"), "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
            "DEL": ("CNI_CONTAINERID", "CNI_IFNAME")}.get(cmd, ())
    if any(not env.get(k) for k in need):
        return 4
    if need:
        cid, ifname = env["CNI_CONTAINERID"], env["CNI_IFNAME"]
        if not T.NAME_RE.fullmatch(cid) or len(cid) > 255:
            return 4
        if len(ifname.encode()) > 15 or ifname in (".", "..") or any(c in ifname for c in "/:") or \
                any(c.isspace() for c in ifname):
            return 4
    try:
        data = json.loads(stdin)
    except (ValueError, RecursionError):
        return 6
    if not isinstance(data, dict):
        return 6
    ipam = data.get("ipam")
    if ipam is not None and not isinstance(ipam, dict):
        return 6
    fields = [data.get("cniVersion"), data.get("name"), data.get("type")] + ([ipam.get("type")] if ipam else [])
    if any(v is not None and not isinstance(v, str) for v in fields):
        return 6
    name = data.get("name")
    if not name or not T.NAME_RE.fullmatch(name):
        return 7
    version = data.get("cniVersion") or "0.1.0"
    if version not in T.VERSIONS:
        return 1
    if cmd == "CHECK" and T.version_tuple(version) < (0, 4, 0):
        return 1
    if cmd in ("GC", "STATUS") and T.version_tuple(version) < (1, 1, 0):
        return 1
    return None


class Gen:
    def __init__(self, rng: random.Random, state: Path, other: Path, plugins: Path) -> None:
        self.r, self.state, self.other, self.plugins = rng, state, other, plugins

    def value(self, depth: int = 0) -> Any:
        r = self.r
        kind = r.randrange(10 if depth < 3 else 6)
        if kind == 0:
            return None
        if kind == 1:
            return r.choice([True, False])
        if kind == 2:
            return r.choice([0, -1, 1, 65536, 2**63, 1500, 3.5])
        if kind in (3, 4, 5):
            return r.choice(["", "x", "lab", "fz", "10.66.0.0/24", "1.0.0", "../x", "a/b", "é", "\x00", "z" * 300,
                             "0.0.0.0/0", "10.66.0.7", "02:00:00:00:00:01", "host-local", "cnictl"])
        if kind in (6, 7):
            return [self.value(depth + 1) for _ in range(r.randrange(3))]
        return {r.choice(["a", "type", "name", "ips", "hostPort", "containerPort", "protocol", "hostIP", "address",
                          "interface", "sandbox", "dst", "gw", "containerID", "ifname", "cniVersion"]): self.value(depth + 1)
                for _ in range(r.randrange(4))}

    def base(self) -> dict[str, Any]:
        r = self.r
        conf: dict[str, Any] = {"cniVersion": r.choice(["1.1.0", "1.1.0", "1.0.0", "0.4.0", "0.3.1", "0.2.0"]),
                                "name": r.choice(["fz", "fz", "nope", "other"]), "type": "cnictl",
                                "stateDir": str(self.state)}
        if r.random() < 0.4:
            conf.update(subnet=r.choice(["10.66.0.0/24", "10.67.0.0/24", ["10.68.0.0/24", "fd00:68::/64"], "bad"]))
        if r.random() < 0.2:
            conf.update(bridge=r.choice(["br-fz", "br-x", "a" * 20]), mtu=r.choice([1400, 1500, 10]))
        if r.random() < 0.2:
            conf["ipam"] = r.choice([{"type": "cnictl"}, {"type": "fake-ipam"}, {"type": "missing-ipam"}, {},
                                     {"type": "../fake-ipam"}])
        if r.random() < 0.3:
            conf["runtimeConfig"] = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
                                     "ips": ["10.66.0.9/24"], "mac": "02:00:00:00:00:09"}
        if r.random() < 0.2:
            conf["prevResult"] = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/nonexistent/ns"}],
                                  "ips": [{"address": "10.66.0.5/24", "interface": 0}]}
        if r.random() < 0.2:
            conf["cni.dev/valid-attachments"] = [{"containerID": "c1", "ifname": "eth0"}]
        return conf

    def mutate(self, conf: dict[str, Any]) -> dict[str, Any]:
        r = self.r
        for _ in range(r.randrange(4)):
            op = r.randrange(6)
            keys = list(conf)
            if op == 0 and keys:
                conf.pop(r.choice(keys))
            elif op in (1, 2):
                key = r.choice(keys + ["cniVersion", "name", "type", "ipam", "prevResult", "runtimeConfig", "args",
                                       "subnet", "mtu", "internal", "network", "cni.dev/valid-attachments",
                                       "cni.dev/attachments", "capabilities", "dns", "driver", "parent"])
                conf[key] = self.value()
            elif op == 3:
                conf["stateDir"] = r.choice([str(self.other), "relative", 5, None])
            elif op == 4:
                conf["cniVersion"] = r.choice(["", "0.1.0", "1.1", "2.0.0", "1.1.0 ", "01.1.0", "1.0.0"])
            else:
                conf["name"] = r.choice(["", "-x", "a b", "x" * 64, "ok.name_1", "../../etc", "fz"])
        return conf

    def stdin(self) -> bytes:
        r = self.r
        roll = r.random()
        if roll < 0.05:
            return bytes(r.randrange(256) for _ in range(r.randrange(40)))
        if roll < 0.07:
            return r.choice([b"", b"null", b"[]", b"{", b"[" * 5000, b'{"a":' * 3000])
        raw = json.dumps(self.mutate(self.base()) if r.random() < 0.8 else self.base()).encode()
        if r.random() < 0.08:
            raw = raw[: r.randrange(len(raw) + 1)]
        if r.random() < 0.05 and raw:
            i = r.randrange(len(raw))
            raw = raw[:i] + bytes([r.randrange(256)]) + raw[i + 1:]
        return raw

    def env(self) -> dict[str, str]:
        r = self.r
        env: dict[str, str] = {"CNICTL_STATE_DIR": str(self.state)}
        choices = {
            "CNI_COMMAND": list(COMMANDS) * 3 + ["", "add", "FOO", None],
            "CNI_CONTAINERID": ["c1", "c1", "abc-123.x_y", "", None, "-bad", "a/b", "x" * 300, "é"],
            "CNI_NETNS": ["/nonexistent/netns/c1", "/nonexistent/netns/c1", "", None, "/proc/self/ns/net", "/dev/null",
                          "relative", "/"],
            "CNI_IFNAME": ["eth0", "eth0", "net1", "", None, "a" * 16, "a:b", "..", "a b"],
            "CNI_ARGS": ["", None, "IgnoreUnknown=1;K8S_POD_NAME=x", "IP=10.66.0.7", "K8S_POD_NAME=x", "IP=", "a=b=c",
                         "MAC=02:00:00:00:00:07;", "IgnoreUnknown=true;IP=10.66.0.7"],
            "CNI_PATH": [str(self.plugins), "/nonexistent", "", None],
        }
        valid = r.random() < 0.6  # mostly a well-formed environment, so that the configuration gets exercised
        for key, values in choices.items():
            v = values[0] if valid and key != "CNI_COMMAND" and r.random() < 0.9 else r.choice(values)
            if v is not None:
                env[key] = v
        return env


def check_one(env: dict[str, str], stdin: bytes, code: int, out: bytes) -> None:
    want = expected_code(env, stdin)
    what = f"env={env} stdin={stdin[:300]!r} -> {code} {out[:300]!r}"
    assert code in (0, 1), what
    if code == 1:
        obj = json.loads(out)  # exactly one JSON document
        assert isinstance(obj, dict) and set(obj) <= {"cniVersion", "code", "msg", "details"}, what
        assert isinstance(obj["code"], int) and (obj["code"] in ALLOWED_CODES or obj["code"] >= 100), what
        assert isinstance(obj["msg"], str) and obj["msg"], what
        if want is not None:
            assert obj["code"] == want, what
        return
    assert want is None, what
    cmd = env["CNI_COMMAND"]
    assert cmd in ("VERSION", "DEL", "GC", "STATUS"), what  # ADD/CHECK cannot succeed without a namespace
    if cmd == "VERSION":
        assert json.loads(out)["supportedVersions"] == list(T.VERSIONS), what
    else:
        assert out == b"", what


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path, Path]:
    state, other, plugins = tmp_path / "state", tmp_path / "other", tmp_path / "plugins"
    plugins.mkdir()
    fake = plugins / "fake-ipam"
    fake.write_text(FAKE_IPAM)
    fake.chmod(0o755)
    with Host(state_dir=state) as host:
        Store(host.paths).save_network(Network("fz", "bridge", "br-fz", [SubnetSpec("10.66.0.0/24", "10.66.0.1")],
                                               mtu=1400, firewall="none"))
    (state / "lock").touch(mode=0o600)
    return state, other, plugins


def test_fuzz_run_in_process(world: tuple[Path, Path, Path]) -> None:
    state, other, plugins = world
    before = snapshot(state)
    gen = Gen(random.Random(int(os.environ.get("CNICTL_FUZZ_SEED", "1234"))), state, other, plugins)
    seen: dict[tuple[str, int], int] = {}
    for _ in range(N_CASES):
        env, stdin = gen.env(), gen.stdin()
        code, out = plugin.run(env, stdin)
        check_one(env, stdin, code, out)
        key = (env.get("CNI_COMMAND", ""), json.loads(out)["code"] if code else 0)
        seen[key] = seen.get(key, 0) + 1
    assert snapshot(state) == before, "the fuzz changed the state directory"
    assert not other.exists()
    # the generator reaches every verb's success and the main error codes
    for key in [("VERSION", 0), ("DEL", 0), ("GC", 0), ("ADD", 3), ("ADD", 4), ("ADD", 6), ("ADD", 7), ("ADD", 1),
                ("ADD", 8), ("STATUS", 50), ("CHECK", 1)]:
        assert seen.get(key), f"the generator never produced {key}: {sorted(seen)}"


def test_fuzz_sample_through_the_executable(world: tuple[Path, Path, Path]) -> None:
    state, other, plugins = world
    before = snapshot(state)
    gen = Gen(random.Random(99), state, other, plugins)
    for _ in range(N_SUBPROCESS):
        env, stdin = gen.env(), gen.stdin()
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        p = subprocess.run([CLI], input=stdin, env=full, capture_output=True, timeout=60)
        check_one(env, stdin, p.returncode, p.stdout)
        assert b"Traceback" not in p.stderr, p.stderr.decode()
    assert snapshot(state) == before
