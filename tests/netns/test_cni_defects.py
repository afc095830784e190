"""Issue 9 on real namespaces: a sandboxed CNI run writes nothing outside its state directory (A), hairpin with
the reference portmap chained after the cnictl plugin (B), plugins get the caller's environment (C), CHECK
reports each problem once (D), the default emitted conflist passes CHECK with the reference plugins (E).

Every cnictl call here is `cnictl --netns HOST --state-dir STATE ...` with no CNI_* or NETCONFPATH variables,
so the defaults are the ones under test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CNICTL, Lab

REF = Path("/usr/lib/cni")
pytestmark = pytest.mark.skipif(not (REF / "portmap").exists(), reason="containernetworking-plugins not installed")

# the machine's directories that a sandboxed run must leave alone (/run/netns: the test's own namespaces)
WATCHED = ("/var/lib/cni", "/etc/cni", "/etc/sysctl.d", "/var/lib/cnictl", "/opt/cni", "/run")
SKIPPED = ("/run/netns",)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNI_", "CNICTL_")) and k not in
           ("NETCONFPATH", "CAP_ARGS")}
    env.update(extra)
    return env


def cnictl(lab: Lab, *args: str, check: bool = True, env: dict[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cmd = [CNICTL, "--netns", lab.host, "--state-dir", str(lab.state), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env or clean_env(), timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"cnictl {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def dirs(lab: Lab) -> list[str]:
    """Explicit --conf-dir and --cache-dir (for the tests that are not about their defaults)."""
    return ["--conf-dir", str(lab.state / "net.d"), "--cache-dir", str(lab.state / "cni")]


def machine_snapshot() -> dict[str, tuple[str, int, int]]:
    """Every entry under WATCHED (but SKIPPED): kind, size and mtime; a directory's mtime moves when an entry is
    added, removed or renamed in it."""
    out: dict[str, tuple[str, int, int]] = {}
    for root in WATCHED:
        if not os.path.lexists(root):
            out[root] = ("absent", 0, 0)
            continue
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if os.path.join(d, x) not in SKIPPED]
            for name in [d, *(os.path.join(d, f) for f in files), *(os.path.join(d, x) for x in dirs)]:
                try:
                    st = os.lstat(name)
                except FileNotFoundError:
                    continue
                kind = "dir" if os.path.isdir(name) and not os.path.islink(name) else "file"
                out[name] = (kind, st.st_size if kind == "file" else 0, st.st_mtime_ns)
    return out


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted([f"+ {p}" for p in after.keys() - before.keys()] + [f"- {p}" for p in before.keys() - after.keys()]
                  + [f"~ {p}" for p in before.keys() & after.keys() if before[p] != after[p]])


# ---- A -----------------------------------------------------------------------------------------------------------
def test_a_sandboxed_cni_run_writes_nothing_outside_the_state_dir(lab: Lab) -> None:
    state = lab.state
    c1, c2 = lab.netns(), lab.netns()
    before = machine_snapshot()
    cnictl(lab, "net", "create", "lab", "--subnet", "10.91.0.0/24", "--cni-conf-dir", str(state / "net.d"))
    cnictl(lab, "forward", "enable", "--persist")
    # the reference list: no --conf-dir, no --cache-dir: STATE/net.d and STATE/cni
    res = json.loads(cnictl(lab, "cni", "add", "lab", c1, "--cni-path", str(REF), "--json").stdout)
    cid = "cnitool-" + __import__("hashlib").sha512(f"/run/netns/{c1}".encode()).hexdigest()[:20]
    assert (state / "cni" / "results" / f"lab-{cid}-eth0").is_file()
    assert res["ips"][0]["address"].startswith("10.91.0.")
    cnictl(lab, "cni", "check", "lab", c1, "--cni-path", str(REF))
    cnictl(lab, "cni", "status", "lab", "--cni-path", str(REF))
    cnictl(lab, "cni", "version", "lab", "--cni-path", str(REF))
    cnictl(lab, "cni", "gc", "lab", "--cni-path", str(REF))
    # the cnictl flavour, through the installed plugin
    cnictl(lab, "cni", "install", "--dir", str(state / "bin"))
    cnictl(lab, "cni", "emit", "lab", "--plugin", "cnictl", "--out", str(state / "net.d" / "labp.conflist"))
    path = state / "net.d" / "labp.conflist"
    path.write_text(path.read_text().replace('"name": "lab"', '"name": "labp"'))
    plugins = f"{state / 'bin'}:{REF}"
    cnictl(lab, "cni", "add", "labp", c2, "--cni-path", plugins)
    cnictl(lab, "cni", "check", "labp", c2, "--cni-path", plugins)
    cnictl(lab, "cni", "del", "labp", c2, "--cni-path", plugins)
    cnictl(lab, "cni", "del", "lab", c1, "--cni-path", str(REF))
    assert not list((state / "cni" / "results").iterdir())
    cnictl(lab, "net", "rm", "lab", "--force")
    after = machine_snapshot()
    assert changes(before, after) == []


# ---- B -----------------------------------------------------------------------------------------------------------
ECHO = r'''
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(8)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        c.sendall(c.recv(100))
    except OSError:
        pass
    c.close()
'''

CLIENT = r'''
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    s.settimeout(3)
    s.sendall(b"hairpin\n")
    print(s.recv(100).decode().strip() or "(empty)")
except OSError as e:
    print(f"({type(e).__name__})")
'''


@pytest.fixture
def echo_server(lab: Lab) -> Iterator[Any]:
    """Start a TCP echo server on port 80 in a namespace; stopped by its pid afterwards."""
    procs: list[subprocess.Popen[str]] = []

    def start(ns: str) -> None:
        p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout is not None and p.stdout.readline().strip() == "listening"

    yield start
    for p in procs:
        p.kill()
        p.wait(timeout=10)


def tcp_echo(lab: Lab, ns: str, addr: str, port: int) -> str:
    return lab.exec(ns, f"{sys.executable} -c '{CLIENT}' {addr} {port}").stdout.strip()


@pytest.mark.parametrize("hairpin", [True, False, None], ids=["hairpinMode-true", "hairpinMode-false", "default"])
def test_b_hairpin_with_the_reference_portmap_chained_after_cnictl(lab: Lab, echo_server: Any,
                                                                    hairpin: bool | None) -> None:
    state = lab.state
    cnictl(lab, "net", "create", "lab", "--subnet", "10.92.0.0/24")
    cnictl(lab, "cni", "install", "--dir", str(state / "bin"))
    main: dict[str, Any] = {"type": "cnictl", "network": "lab", "stateDir": str(state)}
    if hairpin is not None:
        main["hairpinMode"] = hairpin
    (state / "net.d").mkdir()
    (state / "net.d" / "10-hp.conflist").write_text(json.dumps({"cniVersion": "1.0.0", "name": "hp", "plugins": [
        main, {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}]}))
    ctr = lab.netns()
    caps = json.dumps({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]})
    plugins = f"{state / 'bin'}:{REF}"
    res = json.loads(cnictl(lab, "cni", "add", "hp", ctr, "--cni-path", plugins, "--cap-args", caps, "--json",
                            *dirs(lab)).stdout)
    host_if = next(i["name"] for i in res["interfaces"] if not i.get("sandbox"))
    on = hairpin is not False  # the default is on, as podman's conflists and netavark have it
    assert hairpin_of(lab, host_if) is on
    echo_server(ctr)
    assert tcp_echo(lab, ctr, "10.92.0.2", 80) == "hairpin"  # the server is up
    other = lab.netns()  # another container on the network reaches the published port either way
    cnictl(lab, "attach", "lab", other)
    assert tcp_echo(lab, other, "10.92.0.1", 8080) == "hairpin"
    got = tcp_echo(lab, ctr, "10.92.0.1", 8080)  # the container, through the gateway, to its own published port
    assert (got == "hairpin") is on, got
    cnictl(lab, "cni", "del", "hp", ctr, "--cni-path", plugins, *dirs(lab))


def hairpin_of(lab: Lab, link: str) -> bool:
    return "hairpin on" in lab.exec(lab.host, f"bridge -d link show dev {link}").stdout


def test_b_unpublishing_the_last_port_keeps_the_hairpin_that_attach_asked_for(lab: Lab) -> None:
    """A hairpin the attach asked for (hairpinMode) stays when the last published port goes; one that only the
    published port needed (`cnictl attach -p`) goes with it, as before."""
    state = lab.state
    cnictl(lab, "net", "create", "lab", "--subnet", "10.93.0.0/24")
    cnictl(lab, "cni", "install", "--dir", str(state / "bin"))
    (state / "net.d").mkdir()
    (state / "net.d" / "10-lab.conflist").write_text(json.dumps({"cniVersion": "1.0.0", "name": "lab", "plugins": [
        {"type": "cnictl", "stateDir": str(state), "capabilities": {"portMappings": True}}]}))
    ctr, native = lab.netns(), lab.netns()
    caps = json.dumps({"portMappings": [{"hostPort": 8081, "containerPort": 80, "protocol": "tcp"}]})
    plugins = f"{state / 'bin'}:{REF}"
    res = json.loads(cnictl(lab, "cni", "add", "lab", ctr, "--cni-path", plugins, "--cap-args", caps, "--json",
                            *dirs(lab)).stdout)
    host_if = next(i["name"] for i in res["interfaces"] if not i.get("sandbox"))
    native_if = json.loads(cnictl(lab, "attach", "lab", native, "-p", "8082:80", "--json").stdout)["host_ifname"]
    assert hairpin_of(lab, host_if) and hairpin_of(lab, native_if)
    cnictl(lab, "port", "unpublish", "lab", f"/run/netns/{ctr}", "8081:80/tcp")
    cnictl(lab, "port", "unpublish", "lab", native, "8082:80/tcp")
    assert json.loads(cnictl(lab, "port", "ls", "--json").stdout) == []
    assert hairpin_of(lab, host_if)  # hairpinMode (default true) asked for it
    assert not hairpin_of(lab, native_if)  # only the port needed it
    cnictl(lab, "cni", "del", "lab", ctr, "--cni-path", plugins, *dirs(lab))


# ---- C -----------------------------------------------------------------------------------------------------------
DUMP = """#!/bin/sh
env > "{out}.$CNI_COMMAND"
[ "$CNI_COMMAND" = ADD ] && echo '{{"cniVersion": "1.0.0"}}'
exit 0
"""


@pytest.mark.parametrize("locale", [[], ["LC_CTYPE=C"], ["LANG=C"]], ids=["no-locale", "LC_CTYPE=C", "LANG=C"])
def test_c_plugins_get_the_callers_environment_unchanged(lab: Lab, tmp_path: Path, locale: list[str]) -> None:
    bin_dir, confdir = tmp_path / "bin", tmp_path / "net.d"
    bin_dir.mkdir()
    confdir.mkdir()
    dump = tmp_path / "env"
    (bin_dir / "dump").write_text(DUMP.format(out=dump))
    (bin_dir / "dump").chmod(0o755)
    (confdir / "10-d.conflist").write_text(json.dumps({"cniVersion": "1.0.0", "name": "d",
                                                       "plugins": [{"type": "dump"}]}))
    ctr = lab.netns()
    path = "/usr/sbin:/usr/bin:/sbin:/bin"
    for verb in ("add", "check", "del"):
        cmd = ["env", "-i", f"PATH={path}", "CALLER_VAR=kept", *locale, CNICTL, "--netns", lab.host, "--state-dir",
               str(lab.state), "cni", verb, "d", ctr, "--conf-dir", str(confdir), "--cni-path", str(bin_dir)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        got = dict(line.split("=", 1) for line in Path(f"{dump}.{verb.upper()}").read_text().splitlines() if "=" in line)
        assert got["CALLER_VAR"] == "kept" and got["PATH"] == path
        assert got["CNI_COMMAND"] == verb.upper() and got["CNI_NETNS"] == f"/run/netns/{ctr}"
        given = dict(x.split("=", 1) for x in locale)
        assert got.get("LC_CTYPE") == given.get("LC_CTYPE"), got  # no LC_CTYPE=C.UTF-8 from Python's coercion
        assert got.get("LANG") == given.get("LANG")
        assert not {k for k in got if k.startswith("LC_")} - set(given), got


# ---- D -----------------------------------------------------------------------------------------------------------
def test_d_check_reports_a_missing_address_once(lab: Lab) -> None:
    state = lab.state
    cnictl(lab, "net", "create", "lab", "--subnet", "10.94.0.0/24", "--firewall", "none")
    cnictl(lab, "cni", "install", "--dir", str(state / "bin"))
    cnictl(lab, "cni", "emit", "lab", "--plugin", "cnictl", "--out", str(state / "net.d") + "/")
    ctr = lab.netns()
    plugins = f"{state / 'bin'}:{REF}"
    res = json.loads(cnictl(lab, "cni", "add", "lab", ctr, "--cni-path", plugins, "--json", *dirs(lab)).stdout)
    addr = res["ips"][0]["address"]
    lab.ip(ctr, f"addr del {addr} dev eth0")
    p = cnictl(lab, "cni", "check", "lab", ctr, "--cni-path", plugins, *dirs(lab), check=False)
    assert p.returncode != 0
    assert p.stderr.count(f"address {addr} is missing") == 1, p.stderr
    cnictl(lab, "cni", "del", "lab", ctr, "--cni-path", plugins, *dirs(lab))


# ---- E -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["net-create", "emit"])
def test_e_the_default_conflist_passes_check_with_the_reference_plugins(lab: Lab, how: str) -> None:
    state = lab.state
    if how == "net-create":
        cnictl(lab, "net", "create", "lab", "--subnet", "10.95.0.0/24", "--cni-conf-dir", str(state / "net.d"))
    else:
        cnictl(lab, "net", "create", "lab", "--subnet", "10.95.0.0/24")
        cnictl(lab, "cni", "emit", "lab", "--out", str(state / "net.d") + "/")
    data = json.loads((state / "net.d" / "cnictl-lab.conflist").read_text())
    assert [p["type"] for p in data["plugins"]] == ["bridge", "portmap"]
    ctr = lab.netns()
    cnictl(lab, "cni", "add", "lab", ctr, "--cni-path", str(REF), *dirs(lab))
    p = cnictl(lab, "cni", "check", "lab", ctr, "--cni-path", str(REF), *dirs(lab), check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().endswith("eth0 ok")
    assert lab.ping(ctr, "10.95.0.1")
    cnictl(lab, "cni", "del", "lab", ctr, "--cni-path", str(REF), *dirs(lab))
    assert not list((state / "cni" / "results").iterdir())


def test_f_version_and_status_take_cache_dir(lab: Lab, tmp_path: Path) -> None:
    cnictl(lab, "net", "create", "lab", "--subnet", "10.96.0.0/24", "--cni-conf-dir", str(lab.state / "net.d"))
    for verb in ("version", "status"):
        p = cnictl(lab, "cni", verb, "lab", "--cni-path", str(REF), "--conf-dir", str(lab.state / "net.d"),
                   "--cache-dir", str(tmp_path / "cache"), "--json")
        assert json.loads(p.stdout)["network"] == "lab"
