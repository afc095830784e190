"""cnictl networks and the reference CNI plugins on one host: emitted conflists, one shared IPAM store."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import Lab

CNI = Path("/usr/lib/cni")
pytestmark = pytest.mark.skipif(not (CNI / "host-local").exists(), reason="containernetworking-plugins not installed")


def test_net_create_writes_the_conflist_and_net_rm_removes_it(lab: Lab, tmp_path: Path) -> None:
    confdir = tmp_path / "net.d"
    lab.cli("net", "create", "lab", "--subnet", "10.61.0.0/24", "--cni-conf-dir", str(confdir))
    path = confdir / "cnictl-lab.conflist"
    data = json.loads(path.read_text())
    assert data["name"] == "lab" and data["plugins"][0]["ipam"]["dataDir"] == str(lab.state / "ipam")
    assert data == lab.json("cni", "emit", "lab")
    lab.cli("net", "rm", "lab")
    assert not path.exists()
    # refused before anything changes: --no-icc has no reference-plugin equivalent
    before = lab.snapshot()
    p = lab.cli("net", "create", "iso", "--subnet", "10.62.0.0/24", "--no-icc", "--cni-conf-dir", str(confdir),
                check=False)
    assert p.returncode == 2 and "portIsolation" in p.stderr and len(p.stderr.splitlines()) == 1
    assert lab.snapshot() == before and not list(confdir.iterdir())


def _host_local_add(lab: Lab, conf: bytes, cid: str, netns: str) -> dict[str, object]:
    env = {"PATH": os.environ["PATH"], "CNI_COMMAND": "ADD", "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
           "CNI_IFNAME": "eth0", "CNI_PATH": str(CNI), "CNI_ARGS": ""}
    p = subprocess.run(["ip", "netns", "exec", lab.host, str(CNI / "host-local")], input=conf, env=env,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)  # type: ignore[no-any-return]


def test_host_local_and_cnictl_interleave_50_allocations_without_a_duplicate(lab: Lab) -> None:
    lab.cli("net", "create", "shared", "--subnet", "10.63.0.0/24")
    conflist = lab.json("cni", "emit", "shared")
    plugin = conflist["plugins"][0]
    conf = json.dumps({"cniVersion": conflist["cniVersion"], "name": "shared", **plugin}).encode()
    spaces = [lab.netns() for _ in range(25)]
    dummy = f"/run/netns/{spaces[0]}"

    def native(ns: str) -> str:
        return str(lab.json("attach", "shared", ns)["addresses"][0])

    def reference(i: int) -> str:
        return str(_host_local_add(lab, conf, f"ref{i}", dummy)["ips"][0]["address"])  # type: ignore[index]

    with ThreadPoolExecutor(8) as pool:  # both kinds at once, alternating
        futures = []
        for i, ns in enumerate(spaces):
            futures.append(pool.submit(native, ns))
            futures.append(pool.submit(reference, i))
        got = [f.result() for f in futures]
    assert len(got) == 50 and len(set(got)) == 50, sorted(got)
    store = lab.state / "ipam" / "shared"
    files = {p.name: p.read_bytes() for p in store.iterdir() if p.name[0].isdigit()}
    assert len(files) == 50
    owners = {v.split(b"\r\n")[0].decode() for v in files.values()}
    assert owners == set(spaces) | {f"ref{i}" for i in range(25)}
    for p in store.iterdir():  # cnictl's reservations are 0600 (host-local before plugins 1.4 wrote 0644)
        if p.name[0].isdigit() and not p.read_bytes().startswith(b"ref"):
            assert oct(p.stat().st_mode & 0o777) == "0o600", p
    # what host-local reserved shows in cnictl's view of the network
    shown = lab.json("ipam", "show", "shared")
    assert shown["subnets"][0]["used"] == 50


def _view(lab: Lab, ns: str) -> dict[str, object]:
    """What a container sees of its network: addresses, routes, and its interface's kind/MTU/peer."""
    link = json.loads(lab.ip(ns, "-j -d link show eth0"))[0]
    addrs = json.loads(lab.ip(ns, "-j addr show eth0"))[0]["addr_info"]
    return {
        "addresses": sorted(f"{a['local']}/{a['prefixlen']}" for a in addrs if a.get("scope") == "global"),
        "routes": lab.ip(ns, "route show").replace("proto static ", "").split("\n"),
        "kind": link["linkinfo"]["info_kind"],
        "mtu": link["mtu"],
        "operstate": link["operstate"],
    }


@pytest.mark.parametrize("extra", [[], ["--mtu", "1400"], ["--ip-range", "10.64.0.128/26"]], ids=["plain", "mtu", "range"])
def test_reference_plugins_on_an_emitted_conflist_match_a_native_attach(lab: Lab, tmp_path: Path,
                                                                        extra: list[str]) -> None:
    confdir, cache = tmp_path / "net.d", tmp_path / "cache"
    create = ("net", "create", "lab", "--subnet", "10.64.0.0/24", *extra, "--cni-conf-dir", str(confdir))
    lab.cli(*create)
    native, ref = lab.netns(), lab.netns()
    lab.cli("attach", "lab", native)
    want = _view(lab, native)
    host_port = lab.ip(lab.host, "-o link show master br-lab")
    lab.cli("net", "rm", "lab", "--force")
    lab.cli(*create)  # the same network again: its first address is free again
    runtime = ("--conf-dir", str(confdir), "--cni-path", str(CNI), "--cache-dir", str(cache))
    result = lab.json("cni", "add", "lab", ref, *runtime)
    got = _view(lab, ref)
    assert got == want
    assert [ip["address"] for ip in result["ips"]] == want["addresses"]
    assert "veth" in lab.ip(lab.host, "-o link show master br-lab") and "cni" in host_port
    # the reference plugins reserved in cnictl's store: cnictl sees it, and a native attach does not reuse it
    other = lab.netns()
    assert lab.json("attach", "lab", other)["addresses"] != want["addresses"]
    lab.cli("cni", "del", "lab", ref, *runtime)
    owners = {a["container_id"] for a in lab.json("ipam", "show", "lab")["allocations"]}
    assert owners == {other}
