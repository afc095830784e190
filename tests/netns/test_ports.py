"""Published ports on the real kernel: every path a client can take, conflicts, bad input, clean removal."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import Lab

SERVER = """
import socket, sys, selectors
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16); sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select(timeout=60):
        c, a = key.fileobj.accept()
        c.sendall(f"{key.fileobj.getsockname()[1]} {a[0]}\\n".encode()); c.close()
"""


@contextmanager
def echo_server(lab: Lab, ns: str, *ports: int) -> Iterator[None]:
    """A TCP server in *ns* that answers "<its port> <client address>" on each of *ports*."""
    p = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", SERVER, *map(str, ports)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        yield
    finally:
        p.kill()
        p.wait()


def call(lab: Lab, ns: str, addr: str, port: int) -> str | None:
    """Connect from *ns*; the server's answer, or None when the connection fails."""
    code = (f"import socket; s = socket.create_connection(('{addr}', {port}), timeout=2); "
            "print(s.recv(100).decode().strip())")
    r = lab.exec(ns, f'/usr/bin/python3 -c "{code}"', check=False)
    return r.stdout.strip() if r.returncode == 0 else None


@pytest.fixture
def world(lab: Lab) -> dict[str, str]:
    return make_world(lab)


def make_world(lab: Lab) -> dict[str, str]:
    up = lab.upstream()
    lab.ip(lab.host, "addr add 203.0.113.10/24 dev up0")  # a second host address
    web, other = lab.netns(), lab.netns()
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    return {"up": up, "web": web, "other": other}


@pytest.mark.parametrize("br_nf", ["1", "0"])
@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_every_path_to_a_published_port(lab: Lab, backend: str, br_nf: str) -> None:
    lab.firewall = backend
    world = make_world(lab)
    lab.exec(lab.host, f"sysctl -qw net.bridge.bridge-nf-call-iptables={br_nf}")
    up, web, other = world["up"], world["web"], world["other"]
    lab.cli("attach", "lab", web, "-p", "8080:80", "-p", "127.0.0.1:8081:80", "-p", "203.0.113.1:8082:80")
    lab.cli("attach", "lab", other)
    with echo_server(lab, web, 80):
        # from the outside world, through the host's address; the container sees the real client
        assert call(lab, up, "203.0.113.1", 8080) == "80 203.0.113.2"
        assert call(lab, up, "203.0.113.10", 8080) == "80 203.0.113.2"  # all host addresses
        # from the host itself (locally generated traffic)
        assert call(lab, lab.host, "203.0.113.1", 8080) is not None
        # on 127.0.0.1 when asked, and not from outside
        assert call(lab, lab.host, "127.0.0.1", 8081) is not None
        assert call(lab, up, "203.0.113.1", 8081) is None
        # bound to one host address: reachable there, not on the other one
        assert call(lab, up, "203.0.113.1", 8082) == "80 203.0.113.2"
        assert call(lab, up, "203.0.113.10", 8082) is None
        # hairpin: another container on the same bridge, through the host's address
        assert call(lab, other, "203.0.113.1", 8080) is not None
        # the container itself through the host's address
        assert call(lab, web, "203.0.113.1", 8080) is not None


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_containers_cannot_reach_the_hosts_loopback(lab: Lab, backend: str) -> None:
    lab.firewall = backend
    web = make_world(lab)["web"]
    lab.cli("attach", "lab", web, "-p", "127.0.0.1:8081:80")
    assert lab.exec(lab.host, "sysctl -n net.ipv4.conf.br-lab.route_localnet").stdout.strip() == "1"
    with echo_server(lab, lab.host, 9999):
        assert call(lab, lab.host, "127.0.0.1", 9999) is not None
        lab.ip(web, "route add 127.0.0.0/8 via 10.20.0.1 dev eth0", check=False)
        assert call(lab, web, "127.0.0.1", 9999) is None


def test_port_ranges_and_udp_spec(lab: Lab, world: dict[str, str]) -> None:
    up, web = world["up"], world["web"]
    lab.cli("attach", "lab", web, "-p", "9000-9002:80-82")
    with echo_server(lab, web, 80, 81, 82):
        assert call(lab, up, "203.0.113.1", 9001) == "81 203.0.113.2"
        assert call(lab, up, "203.0.113.1", 9002) == "82 203.0.113.2"
    rows = lab.json("port", "ls")
    assert [(r["host_ports"], r["container_ports"], r["proto"]) for r in rows] == [("9000-9002", "80-82", "tcp")]
    lab.cli("port", "publish", "lab", web, "5353:53/udp")
    assert "udp . 5353 : 10.20.0.2" in lab.exec(lab.host, "nft list map inet cnictl any-addr").stdout


def test_publish_unpublish_and_detach_remove_everything(lab: Lab, world: dict[str, str]) -> None:
    up, web = world["up"], world["web"]
    lab.cli("attach", "lab", web)
    before = lab.snapshot(extra=[web])
    with echo_server(lab, web, 80):
        assert call(lab, up, "203.0.113.1", 8080) is None
        lab.cli("port", "publish", "lab", web, "8080:80")
        assert call(lab, up, "203.0.113.1", 8080) == "80 203.0.113.2"
        assert lab.json("port", "ls", "lab")[0]["spec"] == "8080:80/tcp"
        lab.cli("port", "unpublish", "lab", web, "8080:80")
        assert call(lab, up, "203.0.113.1", 8080) is None
    assert lab.json("port", "ls") == []
    after = lab.snapshot(extra=[web])
    # publishing turned on route_localnet for the bridge; everything else is back as it was
    for snap in (before, after):
        snap.pop("nft")
    assert after == before
    assert "elements" not in lab.exec(lab.host, "nft list map inet cnictl any-addr").stdout
    lab.cli("port", "publish", "lab", web, "8080:80")
    lab.cli("detach", "lab", web)
    assert "elements" not in lab.exec(lab.host, "nft list map inet cnictl any-addr").stdout
    assert not [p for p in (lab.state / "ports").rglob("*") if p.is_file() and p.name != "lock"]


def test_conflicting_host_ports_are_refused_and_nothing_changes(lab: Lab, world: dict[str, str]) -> None:
    web, other = world["web"], world["other"]
    lab.cli("attach", "lab", web, "-p", "8080:80", "-p", "203.0.113.1:8082:80")
    before = lab.snapshot(extra=[other])
    for spec in ("8080:80", "203.0.113.1:8080:80", "8082:80", "203.0.113.1:8082:81"):
        r = lab.cli("attach", "lab", other, "-p", spec, check=False)
        assert r.returncode == 4, (spec, r.stderr)
        assert f"already published by lab {web} eth0" in r.stderr and r.stderr.count("\n") == 1
        assert lab.snapshot(extra=[other]) == before
    lab.cli("attach", "lab", other, "-p", "8080:80/udp", "-p", "203.0.113.10:8082:80")  # other protocol / address


@pytest.mark.parametrize("spec, code, words", [
    ("70000:80", 2, ["70000"]),
    ("8080-8090:80-81", 2, ["mismatched", "8080-8090"]),
    ("8080:80/sctp", 2, ["sctp"]),
    ("banana", 2, ["banana"]),
    ("198.51.100.7:8080:80", 2, ["198.51.100.7", "not on this host"]),
])
def test_bad_port_input(lab: Lab, world: dict[str, str], spec: str, code: int, words: list[str]) -> None:
    web = world["web"]
    before = lab.snapshot(extra=[web])
    r = lab.cli("attach", "lab", web, "-p", spec, check=False)
    assert r.returncode == code and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.startswith("cnictl: error:") and r.stderr.count("\n") == 1
    assert all(w in r.stderr for w in words), r.stderr
    assert lab.snapshot(extra=[web]) == before
    j = lab.cli("--json", "attach", "lab", web, "-p", spec, check=False)
    assert json.loads(j.stderr)["error"]["exit_code"] == code


def test_unpublish_of_something_not_published(lab: Lab, world: dict[str, str]) -> None:
    web = world["web"]
    lab.cli("attach", "lab", web, "-p", "8080:80")
    r = lab.cli("port", "unpublish", "lab", web, "9090:80", check=False)
    assert r.returncode == 3 and "9090:80/tcp is not published" in r.stderr and "8080:80/tcp" in r.stderr
    time.sleep(0)


def test_publishing_on_an_internal_network_is_refused(lab: Lab) -> None:
    web = lab.netns()
    lab.cli("net", "create", "priv", "--subnet", "10.40.0.0/24", "--internal")
    r = lab.cli("attach", "priv", web, "-p", "8080:80", check=False)
    assert r.returncode == 2 and "--internal" in r.stderr
    assert lab.json("net", "inspect", "priv")["attachments"] == []
