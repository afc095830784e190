"""`cnictl cni add|del|check|gc|status|version`: libcni's runtime semantics against the real reference plugins,
run inside a throwaway host namespace (`cnictl --netns HOST`), with logging shim plugins that record every
call (argv, CNI_* env, stdin, namespace) and delegate to /usr/lib/cni. Conf, cache and IPAM dirs live in tmp_path."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CNICTL, Lab, sh

REAL = "/usr/lib/cni"
pytestmark = pytest.mark.skipif(not os.path.exists(f"{REAL}/bridge"), reason="containernetworking-plugins not installed")

SHIM = r'''#!{python} -S
import json, os, subprocess, sys
LOG = {log!r}
name = os.path.basename(sys.argv[0])
real = name[len("log-"):]
data = sys.stdin.buffer.read()
cmd = os.environ.get("CNI_COMMAND", "")
try:
    parsed = json.loads(data) if data.strip() else None
except ValueError:
    parsed = data.decode()
entry = {{"id": os.getpid(), "plugin": name, "cmd": cmd, "env": {{k: v for k, v in os.environ.items() if k.startswith("CNI_")}},
         "stdin": parsed, "raw": data.decode(), "netns": os.readlink("/proc/self/ns/net")}}
with open(LOG, "a") as f:  # the call, logged before a delegate (IPAM) runs; the outcome, after
    f.write(json.dumps(entry) + "\n")
def log(**kw):
    with open(LOG, "a") as f:
        f.write(json.dumps({{"done": os.getpid(), **kw}}) + "\n")
slow = os.path.join(os.path.dirname(LOG), "slow-" + name + "-" + cmd)
if os.path.exists(slow):  # hold this call for a while (to see what overlaps it)
    import time
    time.sleep(float(open(slow).read()))
fail = os.path.join(os.path.dirname(LOG), "fail-" + name + "-" + cmd)
if os.path.exists(fail):
    log(rc=1)
    sys.stderr.write("shim " + name + ": failing " + cmd + " on purpose\n")
    sys.stdout.write(open(fail).read())
    sys.exit(1)
if real == "noop":
    out = ""
    if cmd == "ADD":
        out = json.dumps(parsed.get("prevResult") or {{"cniVersion": parsed["cniVersion"]}})
    elif cmd == "VERSION":
        out = json.dumps({{"cniVersion": "1.1.0", "supportedVersions": ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]}})
    log(rc=0, stdout=out)
    sys.stdout.write(out)
    sys.exit(0)
p = subprocess.run([{real!r} + "/" + real], input=data, capture_output=True)
log(rc=p.returncode, stdout=p.stdout.decode())
sys.stdout.buffer.write(p.stdout)
sys.stderr.buffer.write(p.stderr)
sys.exit(p.returncode)
'''


class World:
    """Conf dir, shim dir, cache dir and IPAM dir of one test, and how to run `cnictl --netns HOST cni ...`."""

    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.lab = lab
        self.conf = tmp / "net.d"
        self.shims = tmp / "shims"
        self.cache = tmp / "cache"
        self.ipam = tmp / "ipam"
        self.log = tmp / "calls.jsonl"
        for d in (self.conf, self.shims):
            d.mkdir()
        text = SHIM.format(python=sys.executable, log=str(self.log), real=REAL)
        for real in ("bridge", "host-local", "portmap", "tuning", "noop"):
            p = self.shims / f"log-{real}"
            p.write_text(text)
            p.chmod(0o755)

    def conflist(self, name: str, plugins: list[dict[str, Any]], version: str = "1.0.0", **extra: Any) -> Path:
        path = self.conf / f"10-{name}.conflist"
        path.write_text(json.dumps({"cniVersion": version, "name": name, **extra, "plugins": plugins}, indent=1))
        return path

    def bridge(self, subnet: str = "10.77.0.0/24", caps: dict[str, bool] | None = None) -> dict[str, Any]:
        plugin: dict[str, Any] = {"type": "log-bridge", "bridge": "br-cni", "isGateway": True}
        if caps is not None:
            plugin["capabilities"] = caps
        plugin["ipam"] = {"type": "log-host-local", "ranges": [[{"subnet": subnet}]], "routes": [{"dst": "0.0.0.0/0"}],
                          "dataDir": str(self.ipam)}
        return plugin

    def cni(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        verb = args[0]
        opts = ["--conf-dir", str(self.conf), "--cni-path", f"{self.shims}:{REAL}"]
        if verb in ("add", "del", "check", "gc"):
            opts += ["--cache-dir", str(self.cache)]
        full = dict(self.lab.env())
        for k in list(full):
            if k.startswith("CNI_") or k in ("NETCONFPATH", "CAP_ARGS"):
                del full[k]
        full.update(env or {})
        p = subprocess.run([CNICTL, "--netns", self.lab.host, "cni", *args, *opts], capture_output=True, text=True,
                           env=full, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"cnictl cni {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = [json.loads(line) for line in self.log.read_text().splitlines()]
        calls = [x for x in lines if "id" in x]
        for done in (x for x in lines if "done" in x):
            next(c for c in calls if c["id"] == done["done"]).update(done)
        return calls

    def reset(self) -> None:
        self.log.unlink(missing_ok=True)

    def cache_files(self) -> list[Path]:
        d = self.cache / "results"
        return sorted(d.iterdir()) if d.exists() else []

    def reservations(self, net: str) -> list[str]:
        d = self.ipam / net
        return sorted(p.name for p in d.iterdir() if p.name != "lock" and not p.name.startswith("last_reserved")) \
            if d.exists() else []


@pytest.fixture
def world(lab: Lab, tmp_path: Path) -> World:
    return World(lab, tmp_path)


def _cid(netns: str) -> str:
    import hashlib

    return "cnitool-" + hashlib.sha512(f"/run/netns/{netns}".encode()).hexdigest()[:20]


SIX = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_ARGS", "CNI_IFNAME", "CNI_PATH"}


def test_add_del_chain_like_libcni(world: World, lab: Lab) -> None:
    c = lab.netns()
    conf = world.conflist("web", [world.bridge(caps={"portMappings": False, "mac": False}),
                                  {"type": "log-portmap", "capabilities": {"portMappings": True}, "snat": True}])
    ports = [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
    caps = json.dumps({"portMappings": ports, "mac": "02:00:00:aa:bb:cc"})
    p = world.cni("add", "web", c, "--json", env={"CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web", "CAP_ARGS": caps})
    result = json.loads(p.stdout)
    assert result["cniVersion"] == "1.0.0"
    assert [ip["address"] for ip in result["ips"]] == ["10.77.0.2/24"]
    assert "10.77.0.2/24" in lab.ip(c, "-o addr show dev eth0")
    assert "default via 10.77.0.1" in lab.ip(c, "route show")

    # env, order, prevResult chaining, runtimeConfig only where the capability is on
    calls = world.calls()
    assert [(x["plugin"], x["cmd"]) for x in calls] == [("log-bridge", "ADD"), ("log-host-local", "ADD"),
                                                         ("log-portmap", "ADD")]
    host_ns = os.readlink(f"/proc/{os.getpid()}/ns/net")
    lab_ns = f"net:[{os.stat(f'/run/netns/{lab.host}').st_ino}]"
    for x in calls:
        assert set(x["env"]) >= SIX, x["env"]
        assert x["env"]["CNI_NETNS"] == f"/run/netns/{c}"
        assert x["env"]["CNI_CONTAINERID"] == _cid(c)
        assert x["env"]["CNI_IFNAME"] == "eth0"
        assert x["env"]["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=web"
        assert x["env"]["CNI_PATH"] == f"{world.shims}:{REAL}"
        assert x["netns"] == lab_ns != host_ns  # plugins run in the host namespace given by --netns
    bridge_in, portmap_in = calls[0]["stdin"], calls[2]["stdin"]
    assert "prevResult" not in bridge_in and "runtimeConfig" not in bridge_in
    written = json.loads(conf.read_text())
    assert list(bridge_in) == list(written["plugins"][0]) + ["name", "cniVersion"]  # key order kept, name/version added
    assert {k: v for k, v in bridge_in.items() if k not in ("name", "cniVersion")} == written["plugins"][0]
    assert bridge_in["name"] == "web" and bridge_in["cniVersion"] == "1.0.0"
    bridge_out = json.loads(calls[0]["stdout"])
    if not bridge_out.get("dns"):
        bridge_out.pop("dns", None)  # an empty dns object is dropped, as libcni's typed Result does
    assert portmap_in["prevResult"] == bridge_out
    assert portmap_in["runtimeConfig"] == {"portMappings": ports}

    # the cache: cniCacheV1, base64 config = the file's bytes, modes 0700 / 0600
    [cache_file] = world.cache_files()
    assert cache_file.name == f"web-{_cid(c)}-eth0"
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache_file.parent.stat().st_mode) == 0o700
    raw = cache_file.read_text()
    assert raw.startswith('{"kind":"cniCacheV1","containerId":"')
    cached = json.loads(raw)
    assert list(cached) == ["kind", "containerId", "config", "ifName", "networkName", "netns", "cniArgs",
                            "capabilityArgs", "result"]
    assert base64.b64decode(cached["config"]) == conf.read_bytes()
    assert cached["cniArgs"] == [["IgnoreUnknown", "1"], ["K8S_POD_NAME", "web"]]
    assert cached["result"] == result
    assert world.reservations("web") == ["10.77.0.2"]

    # DEL: reverse order, prevResult = the cached final result, CNI_ARGS and capability args from the cache
    world.reset()
    world.cni("del", "web", c)
    calls = world.calls()
    assert [(x["plugin"], x["cmd"]) for x in calls] == [("log-portmap", "DEL"), ("log-bridge", "DEL"),
                                                         ("log-host-local", "DEL")]
    for x in calls:
        assert x["stdin"]["prevResult"] == result
        assert x["env"]["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=web"
    assert calls[0]["stdin"]["runtimeConfig"] == {"portMappings": ports}
    assert "runtimeConfig" not in calls[1]["stdin"]
    assert world.cache_files() == []
    assert world.reservations("web") == []
    assert "veth" not in lab.ip(lab.host, "-o link show")
    assert "eth0" not in lab.ip(c, "-o link show")

    # repeated DEL: fine, and without a cache no prevResult is sent
    world.reset()
    world.cni("del", "web", c)
    assert all("prevResult" not in x["stdin"] for x in world.calls())


def test_check_passes_then_fails_when_the_address_is_gone(world: World, lab: Lab) -> None:
    c = lab.netns()
    world.conflist("chk", [world.bridge("10.78.0.0/24")])
    world.cni("add", "chk", c)
    world.reset()
    p = world.cni("check", "chk", c, "--json")
    assert json.loads(p.stdout)["ok"] is True
    calls = world.calls()
    assert [x["cmd"] for x in calls] == ["CHECK", "CHECK"]
    assert calls[0]["stdin"]["prevResult"]["ips"][0]["address"] == "10.78.0.2/24"
    lab.ip(c, "addr flush dev eth0")
    p = world.cni("check", "chk", c, check=False)
    assert p.returncode == 1
    assert 'plugin type="log-bridge" failed (check)' in p.stderr
    assert "Traceback" not in p.stderr
    world.cni("del", "chk", c)


def test_add_failure_in_plugin_two_returns_its_error_and_writes_no_cache(world: World, lab: Lab) -> None:
    c = lab.netns()
    world.conflist("bad", [world.bridge("10.79.0.0/24"), {"type": "log-tuning", "sysctl": {}}])
    (world.log.parent / "fail-log-tuning-ADD").write_text('{"code": 123, "msg": "boom", "details": "from shim"}')
    p = world.cni("add", "bad", c, check=False)
    assert p.returncode == 1
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("cnictl: error:")]
    assert line == ['cnictl: error: plugin type="log-tuning" failed (add): CNI error code 123: boom: from shim']
    assert "shim log-tuning: failing ADD on purpose" in p.stderr  # the plugin's stderr is forwarded
    assert world.cache_files() == []
    # the runtime must still DEL after a failed ADD; that releases the address
    assert world.reservations("bad") == ["10.79.0.2"]
    world.cni("del", "bad", c)
    assert world.reservations("bad") == []


def test_del_stops_at_the_first_error_and_keeps_the_cache(world: World, lab: Lab) -> None:
    c = lab.netns()
    world.conflist("stop", [world.bridge("10.80.0.0/24"), {"type": "log-tuning", "sysctl": {}}])
    world.cni("add", "stop", c)
    fail = world.log.parent / "fail-log-tuning-DEL"
    fail.write_text('{"code": 11, "msg": "busy"}')
    world.reset()
    p = world.cni("del", "stop", c, check=False)
    assert p.returncode == 1 and "CNI error code 11: busy" in p.stderr
    assert [x["plugin"] for x in world.calls()] == ["log-tuning"]  # bridge never called
    assert len(world.cache_files()) == 1
    fail.unlink()
    world.reset()
    world.cni("del", "stop", c)
    assert all("prevResult" in x["stdin"] for x in world.calls())  # the kept cache still gave prevResult
    assert world.cache_files() == [] and world.reservations("stop") == []


def test_corrupt_cache_is_deleted_and_del_goes_on(world: World, lab: Lab) -> None:
    c = lab.netns()
    world.conflist("cor", [world.bridge("10.81.0.0/24")])
    world.cni("add", "cor", c)
    [f] = world.cache_files()
    f.write_bytes(b"")  # a 0-byte file after power loss (containernetworking/cni#1055)
    world.reset()
    world.cni("del", "cor", c)
    assert all("prevResult" not in x["stdin"] for x in world.calls())
    assert world.cache_files() == [] and world.reservations("cor") == []


def test_gc_deletes_attachments_whose_namespace_is_gone(world: World, lab: Lab) -> None:
    c1, c2 = lab.netns(), lab.netns()
    world.conflist("gcn", [world.bridge("10.82.0.0/24")])
    world.cni("add", "gcn", c1)
    world.cni("add", "gcn", c2)
    assert world.reservations("gcn") == ["10.82.0.2", "10.82.0.3"]
    sh(f"ip netns del {c2}")
    world.reset()
    p = world.cni("gc", "gcn", "--json")
    out = json.loads(p.stdout)
    assert out["deleted"] == [{"containerID": _cid(c2), "ifname": "eth0"}]
    assert out["valid"] == [{"containerID": _cid(c1), "ifname": "eth0"}]
    assert world.reservations("gcn") == ["10.82.0.2"]
    assert [x["cmd"] for x in world.calls()] == ["DEL", "DEL"]  # 1.0.0: no GC verb sent
    # an explicit valid set that leaves c1 out
    world.cni("gc", "gcn", "--valid", "other:eth0")
    assert world.reservations("gcn") == [] and world.cache_files() == []


def test_gc_and_status_at_1_1_0(world: World, lab: Lab) -> None:
    a, b = lab.netns(), lab.netns()
    world.conflist("new", [{"type": "log-noop", "capabilities": {"portMappings": True}}], version="1.1.0")
    world.cni("add", "new", a, "--id", "ida")
    world.cni("add", "new", b, "--id", "idb")
    world.reset()
    world.cni("gc", "new", "--valid", "ida:eth0")
    calls = world.calls()
    assert [(x["cmd"], x["env"]["CNI_CONTAINERID"]) for x in calls] == [("DEL", "idb"), ("GC", "")]
    gc = calls[1]
    assert gc["stdin"]["cni.dev/valid-attachments"] == [{"containerID": "ida", "ifname": "eth0"}]
    assert gc["stdin"]["cni.dev/attachments"] == gc["stdin"]["cni.dev/valid-attachments"]
    assert "prevResult" not in gc["stdin"] and "runtimeConfig" not in gc["stdin"]
    assert {k: gc["env"][k] for k in SIX} == {"CNI_COMMAND": "GC", "CNI_CONTAINERID": "", "CNI_NETNS": "",
                                              "CNI_ARGS": "", "CNI_IFNAME": "", "CNI_PATH": f"{world.shims}:{REAL}"}
    assert [f.name for f in world.cache_files()] == ["new-ida-eth0"]

    world.reset()
    assert "new: ready" in world.cni("status", "new").stdout
    assert [x["cmd"] for x in world.calls()] == ["STATUS"]
    (world.log.parent / "fail-log-noop-STATUS").write_text('{"code": 50, "msg": "not ready"}')
    p = world.cni("status", "new", check=False)
    assert p.returncode == 1 and "CNI error code 50: not ready" in p.stderr


def test_status_below_1_1_0_runs_nothing_and_disable_check_skips(world: World, lab: Lab) -> None:
    world.conflist("old", [{"type": "log-noop"}], version="1.0.0", disableCheck="TRUE")
    assert "has no STATUS" in world.cni("status", "old").stdout
    c = lab.netns()
    world.cni("add", "old", c)
    world.reset()
    assert json.loads(world.cni("check", "old", c, "--json").stdout)["skipped"] is True
    assert world.calls() == []


def test_plugin_type_with_a_slash_is_refused_without_executing(world: World, lab: Lab, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    world.conflist("evil", [{"type": "log-noop"}, {"type": f"../{evil.parent.name}/evil"}])
    c = lab.netns()
    p = world.cni("add", "evil", c, check=False)
    assert p.returncode == 1 and "invalid plugin name" in p.stderr
    assert not marker.exists() and world.calls() == []


def test_own_namespace_is_refused_with_code_8(world: World, lab: Lab) -> None:
    world.conflist("own", [{"type": "log-noop"}])
    p = world.cni("add", "own", lab.host, check=False)
    assert p.returncode == 1 and "should not be the same" in p.stderr
    assert world.calls() == []
    world.cni("add", "own", lab.host, env={"CNI_NETNS_OVERRIDE": "1"})


def test_version_probe_like_libcni(world: World, lab: Lab) -> None:
    world.conflist("ver", [world.bridge(), {"type": "log-noop"}], version="1.0.0")
    p = world.cni("version", "ver", "--json")
    rows = json.loads(p.stdout)["plugins"]
    assert [(r["plugin"], r["ok"]) for r in rows] == [("log-bridge", True), ("log-noop", True)]
    assert "1.0.0" in rows[0]["supported"]
    calls = world.calls()
    assert [x["cmd"] for x in calls] == ["VERSION", "VERSION"]
    for x in calls:
        assert x["raw"] == '{"cniVersion":"1.1.0"}'
        assert {k: x["env"][k] for k in SIX} == {"CNI_COMMAND": "VERSION", "CNI_CONTAINERID": "", "CNI_NETNS": "dummy",
                                                 "CNI_ARGS": "", "CNI_IFNAME": "dummy", "CNI_PATH": "dummy"}
    # a list version a plugin does not support: the table says so and the exit code is 1
    world.conflist("ver", [world.bridge()], version="1.1.0")
    p = world.cni("version", "ver", check=False)
    assert p.returncode == 1 and 'does not support config version "1.1.0"' in p.stdout


def test_bad_names_are_refused_before_any_path_is_built(world: World, lab: Lab) -> None:
    world.conflist("ok", [{"type": "log-noop"}])
    c = lab.netns()
    for args in (["add", "ok", c, "--id", "../x"], ["del", "ok", c, "--ifname", "a/b"], ["check", "../ok", c]):
        p = world.cni(*args, check=False)
        assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
    assert world.calls() == [] and world.cache_files() == []


def test_70_no_add_or_del_runs_while_gc_runs(world: World, lab: Lab, tmp_path: Path) -> None:
    """GC holds the runtime's lock: an ADD (and a DEL) issued meanwhile start only after GC is done."""
    world.conflist("gcnet", [{"type": "log-noop"}], version="1.1.0")
    ns1, ns2 = lab.netns(), lab.netns()
    world.cni("add", "gcnet", ns1)
    world.reset()
    (tmp_path / "slow-log-noop-GC").write_text("1.5")
    opts = ["--conf-dir", str(world.conf), "--cni-path", f"{world.shims}:{REAL}", "--cache-dir", str(world.cache)]
    env = {k: v for k, v in lab.env().items() if not k.startswith("CNI_") and k not in ("NETCONFPATH", "CAP_ARGS")}
    base = [CNICTL, "--netns", lab.host, "cni"]
    gc = subprocess.Popen([*base, "gc", "gcnet", "--valid", f"{_cid(ns1)}:eth0", *opts], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not any(c["cmd"] == "GC" for c in world.calls()) and time.monotonic() < deadline:
        time.sleep(0.05)
    later = [subprocess.Popen([*base, "add", "gcnet", ns2, *opts], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE),
             subprocess.Popen([*base, "del", "gcnet", ns1, *opts], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)]
    for p in (gc, *later):
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    lines = [json.loads(line) for line in world.log.read_text().splitlines()]
    gc_call = next(i for i, x in enumerate(lines) if x.get("cmd") == "GC")
    gc_done = next(i for i, x in enumerate(lines) if x.get("done") == lines[gc_call]["id"])
    others = [i for i, x in enumerate(lines) if x.get("cmd") in ("ADD", "DEL")]
    assert len(others) == 2 and min(others) > gc_done, lines
