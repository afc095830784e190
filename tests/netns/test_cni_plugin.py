"""`cnictl-cni` conformance on real namespaces: the plugin runs as a subprocess inside the lab's host namespace
(`ip netns exec HOST env -i CNI_...=... cnictl-cni < config`), exactly as a runtime runs it.

Test names carry the CNI.md section 1.3 checklist numbers they assert."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import Lab

PLUGIN = str(Path(sys.executable).with_name("cnictl-cni"))
REF_DIR = "/usr/lib/cni"


def config(lab: Lab, name: str = "pnet", version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {"cniVersion": version, "name": name, "type": "cnictl", "stateDir": str(lab.state), "firewall": "none",
            **extra}


def cni(lab: Lab, command: str, conf: dict[str, Any], *, cid: str = "c1", netns: str = "", ifname: str = "eth0",
        args: str = "IgnoreUnknown=1;K8S_POD_NAME=x", path: str = REF_DIR, **env: str) -> tuple[int, Any]:
    full = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
            "CNI_ARGS": args, "CNI_PATH": path, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **env}
    cmd = ["ip", "netns", "exec", lab.host, "env", "-i", *[f"{k}={v}" for k, v in full.items()], PLUGIN]
    p = subprocess.run(cmd, input=json.dumps(conf).encode(), capture_output=True, timeout=60)
    assert b"Traceback" not in p.stderr, p.stderr.decode()
    out = p.stdout.decode()
    if p.returncode != 0:
        obj = json.loads(out)  # 13: exactly one error object
        assert isinstance(obj["code"], int) and obj["msg"], obj
        return p.returncode, obj
    return 0, json.loads(out) if out else None


def nspath(ns: str) -> str:
    return f"/run/netns/{ns}"


def ipam_files(lab: Lab, network: str = "pnet") -> list[str]:
    d = lab.state / "ipam" / network
    return sorted(p.name for p in d.iterdir() if p.name != "lock" and not p.name.startswith("last_")) if d.exists() else []


def add(lab: Lab, ns: str, conf: dict[str, Any], **kw: Any) -> dict[str, Any]:
    rc, out = cni(lab, "ADD", conf, netns=nspath(ns), **kw)
    assert rc == 0, out
    return out


def test_14_15_16_17_21_22_27_add_and_del_a_bridge_network_created_inline(lab: Lab) -> None:
    c = lab.netns()
    conf = config(lab, subnet="10.70.1.0/24")
    res = add(lab, c, conf)
    assert res["cniVersion"] == "1.0.0"  # 14
    ifaces = res["interfaces"]
    ctr = [i for i in ifaces if i.get("sandbox")]
    assert len(ctr) == 1 and ctr[0]["name"] == "eth0" and ctr[0]["sandbox"] == nspath(c)  # 16
    assert all(not i.get("sandbox") for i in ifaces if i is not ctr[0])
    assert res["ips"] == [{"address": "10.70.1.2/24", "gateway": "10.70.1.1", "interface": ifaces.index(ctr[0])}]  # 17
    assert "version" not in res["ips"][0] and "dns" not in res
    assert res["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.70.1.1"}]
    assert "10.70.1.2/24" in lab.ip(c, "-o addr show dev eth0")
    assert lab.ping(c, "10.70.1.1")  # the bridge in the host answers
    assert ipam_files(lab) == ["10.70.1.2"]
    # 21: the same (container, ifname) again fails; 15: another container's eth0 in the same netns fails
    assert cni(lab, "ADD", conf, netns=nspath(c))[0] != 0
    rc, out = cni(lab, "ADD", conf, netns=nspath(c), cid="c2")
    assert rc != 0, out
    assert ipam_files(lab) == ["10.70.1.2"]
    # 22, 27: DEL twice, silent, and everything is gone
    assert cni(lab, "DEL", conf, netns=nspath(c)) == (0, None)
    assert cni(lab, "DEL", conf, netns=nspath(c)) == (0, None)
    assert "eth0" not in lab.ip(c, "-o link show")
    assert ipam_files(lab) == []
    assert "cni" not in lab.ip(lab.host, "-o link show type veth")


def test_add_to_a_network_made_by_the_cli_and_mismatched_inline_options(lab: Lab) -> None:
    lab.cli("net", "create", "clinet", "--subnet", "10.70.2.0/24", "--firewall", "none")
    c = lab.netns()
    res = add(lab, c, config(lab, name="pods", network="clinet"))
    assert res["ips"][0]["address"] == "10.70.2.2/24"
    rc, out = cni(lab, "ADD", config(lab, name="clinet", subnet="10.70.9.0/24"), netns=nspath(lab.netns()))
    assert rc == 1 and out["code"] == 7 and "subnet" in out["details"]
    assert cni(lab, "DEL", config(lab, name="pods", network="clinet"), netns=nspath(c)) == (0, None)


def test_14_45_older_result_versions(lab: Lab) -> None:
    c = lab.netns()
    res = add(lab, c, config(lab, version="0.3.1", subnet="10.70.3.0/24"))
    assert res["cniVersion"] == "0.3.1" and res["ips"][0]["version"] == "4"
    res = add(lab, c, config(lab, version="0.2.0", subnet="10.70.3.0/24"), ifname="eth1", cid="c2")
    assert res["cniVersion"] == "0.2.0" and res["ip4"]["ip"] == "10.70.3.3/24" and "ips" not in res


def test_18_prev_result_is_carried_forward(lab: Lab) -> None:
    c = lab.netns()
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "lo0", "sandbox": nspath(c)}],
            "ips": [{"address": "192.0.2.5/32", "interface": 0}], "dns": {"nameservers": ["192.0.2.53"]}}
    res = add(lab, c, config(lab, subnet="10.70.4.0/24", prevResult=prev))
    assert res["interfaces"][0] == prev["interfaces"][0] and res["ips"][0] == prev["ips"][0]
    assert res["dns"] == prev["dns"]
    assert res["interfaces"][res["ips"][1]["interface"]]["name"] == "eth0"


def test_23_24_25_del_with_the_namespace_gone_or_not_given(lab: Lab) -> None:
    conf = config(lab, subnet="10.70.5.0/24")
    c1, c2 = lab.netns(), lab.netns()
    add(lab, c1, conf, cid="a")
    add(lab, c2, conf, cid="b")
    subprocess.run(["ip", "netns", "del", c1], check=True)
    assert cni(lab, "DEL", conf, netns=nspath(c1), cid="a") == (0, None)  # 23
    assert cni(lab, "DEL", {**conf, "prevResult": {}}, netns="", cid="b") == (0, None)  # 4, 25
    assert ipam_files(lab) == []
    assert "cni" not in lab.ip(lab.host, "-o link show type veth")
    assert "eth0" not in lab.ip(c2, "-o link show")
    c3 = lab.netns()
    add(lab, c3, conf, cid="c")
    lab.ip(c3, "link del eth0")  # 24: the interface went already
    assert cni(lab, "DEL", conf, netns=nspath(c3), cid="c") == (0, None)
    assert ipam_files(lab) == []


def test_28_29_30_31_check(lab: Lab) -> None:
    c = lab.netns()
    conf = config(lab, version="1.1.0", subnet="10.70.6.0/24")
    res = add(lab, c, conf)
    assert cni(lab, "CHECK", conf, netns=nspath(c))[1]["code"] == 7  # 29: no prevResult
    checked = {**conf, "prevResult": res}
    assert cni(lab, "CHECK", checked, netns=nspath(c)) == (0, None)  # 28
    lab.ip(c, "link set eth0 address 02:11:22:33:44:55")  # 31: a later plugin changed the MAC
    assert cni(lab, "CHECK", checked, netns=nspath(c)) == (0, None)
    lab.ip(c, "route del default")  # 30
    rc, out = cni(lab, "CHECK", checked, netns=nspath(c))
    assert rc == 1 and "route" in out["details"]
    lab.ip(c, "addr flush dev eth0")
    rc, out = cni(lab, "CHECK", checked, netns=nspath(c))
    assert rc == 1 and "10.70.6.2/24" in out["details"]
    assert cni(lab, "CHECK", {**conf, "cniVersion": "0.3.1", "prevResult": res}, netns=nspath(c))[1]["code"] == 1  # 10


def test_20_26_32_42_delegated_host_local(lab: Lab, tmp_path: Path) -> None:
    if not os.path.exists(f"{REF_DIR}/host-local"):
        pytest.skip("containernetworking-plugins is not installed")
    data = tmp_path / "hl"
    conf = config(lab, subnet="10.70.7.0/24",
                  ipam={"type": "host-local", "subnet": "10.70.7.0/24", "rangeStart": "10.70.7.100", "dataDir": str(data)})
    c = lab.netns()
    res = add(lab, c, conf)
    assert res["ips"][0]["address"] == "10.70.7.100/24"  # 42: the delegate's address
    assert (data / "pnet" / "10.70.7.100").read_bytes() == b"c1\r\neth0"
    assert "10.70.7.100/24" in lab.ip(c, "-o addr show dev eth0")
    assert cni(lab, "CHECK", {**conf, "cniVersion": "1.0.0", "prevResult": res}, netns=nspath(c)) == (0, None)  # 32
    # 20: ADD fails after the IPAM ADD (eth1 exists already): the reservation is given back
    lab.ip(c, "link add eth1 type veth peer name eth1p")
    rc, out = cni(lab, "ADD", conf, netns=nspath(c), cid="c2", ifname="eth1")
    assert rc == 1, out
    assert sorted(p.name for p in (data / "pnet").iterdir() if p.name[0].isdigit()) == ["10.70.7.100"]
    # 26: DEL with no namespace still runs the IPAM DEL
    assert cni(lab, "DEL", conf, netns="") == (0, None)
    assert not (data / "pnet" / "10.70.7.100").exists()
    # 43: a delegate named by path never runs
    rc, out = cni(lab, "ADD", {**conf, "ipam": {"type": "../../bin/true"}}, netns=nspath(c), cid="c3")
    assert rc == 1 and out["code"] == 7


def test_33_34_35_36_gc(lab: Lab) -> None:
    conf = config(lab, version="1.1.0", subnet="10.70.8.0/24")
    c1, c2 = lab.netns(), lab.netns()
    add(lab, c1, conf, cid="keep")
    add(lab, c2, conf, cid="drop")
    gc = {**conf, "cni.dev/valid-attachments": [{"containerID": "keep", "ifname": "eth0"}],
          "cni.dev/attachments": [{"containerID": "keep", "ifname": "eth0"}]}
    assert cni(lab, "GC", gc, cid="", ifname="", args="") == (0, None)  # 35: no container variables
    assert ipam_files(lab) == ["10.70.8.2"]
    assert "eth0" in lab.ip(c1, "-o link show") and "eth0" not in lab.ip(c2, "-o link show")
    assert lab.ping(c1, "10.70.8.1")
    assert cni(lab, "GC", {**conf, "cni.dev/attachments": []}, cid="", ifname="") == (0, None)  # 34: legacy key
    assert ipam_files(lab) == []


def test_37_38_status(lab: Lab) -> None:
    conf = config(lab, version="1.1.0", subnet="10.70.10.0/24")
    assert cni(lab, "STATUS", conf, cid="", ifname="") == (0, None)  # can be created
    named_only = {k: v for k, v in config(lab, version="1.1.0").items() if k != "firewall"}
    assert cni(lab, "STATUS", named_only, cid="", ifname="")[1]["code"] == 50  # 37: no such network, no options
    add(lab, lab.netns(), conf)
    assert cni(lab, "STATUS", conf, cid="", ifname="") == (0, None)
    lab.ip(lab.host, "link del br-pnet")
    assert cni(lab, "STATUS", conf, cid="", ifname="")[1]["code"] == 50


def test_44_own_namespace(lab: Lab) -> None:
    conf = config(lab, subnet="10.70.11.0/24")
    rc, out = cni(lab, "ADD", conf, netns=nspath(lab.host))
    assert rc == 1 and out["code"] == 8
    assert not (lab.state / "networks" / "pnet.json").exists()
    res = add(lab, lab.host, conf, ifname="ctr0", CNI_NETNS_OVERRIDE="true")
    assert res["ips"][0]["address"] == "10.70.11.2/24"
    assert cni(lab, "DEL", conf, netns=nspath(lab.host), ifname="ctr0", CNI_NETNS_OVERRIDE="1") == (0, None)


def test_39_concurrent_adds_never_share_an_address(lab: Lab) -> None:
    conf = config(lab, subnet="10.70.12.0/24")
    add(lab, lab.netns(), conf, cid="first")  # the network exists before the race
    c = lab.netns()
    results: list[Any] = []

    def one(i: int) -> None:
        results.append(cni(lab, "ADD", conf, netns=nspath(c), cid=f"k{i}", ifname=f"eth{i}"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(rc == 0 for rc, _ in results), results
    addrs = [out["ips"][0]["address"] for _, out in results]
    assert len(set(addrs)) == 6
    assert len(ipam_files(lab)) == 7


def test_portmappings_publish_and_unpublish(lab: Lab) -> None:
    conf = config(lab, subnet="10.70.13.0/24", firewall="nftables",
                  runtimeConfig={"portMappings": [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]})
    c = lab.netns()
    add(lab, c, conf)
    assert "18080" in lab.exec(lab.host, "nft list table inet cnictl").stdout
    assert cni(lab, "DEL", conf, netns=nspath(c)) == (0, None)
    assert "18080" not in lab.exec(lab.host, "nft list ruleset").stdout


def test_42_delegate_gets_the_same_stdin_and_its_stderr_is_passed_on(lab: Lab, tmp_path: Path) -> None:
    if not os.path.exists(f"{REF_DIR}/host-local"):
        pytest.skip("containernetworking-plugins is not installed")
    shim_dir = tmp_path / "plugins"
    shim_dir.mkdir()
    seen = tmp_path / "seen.json"
    shim = shim_dir / "noisy-ipam"
    shim.write_text(f"#!/bin/sh\ntee {seen} | {REF_DIR}/host-local\nrc=$?\necho from-the-delegate-$CNI_COMMAND >&2\n"
                    "exit $rc\n")
    shim.chmod(0o755)
    conf = config(lab, subnet="10.70.8.0/24",
                  ipam={"type": "noisy-ipam", "subnet": "10.70.8.0/24", "dataDir": str(tmp_path / "hl")})
    c = lab.netns()
    full = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": nspath(c), "CNI_IFNAME": "eth0",
            "CNI_ARGS": "", "CNI_PATH": f"{shim_dir}:{REF_DIR}", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    stdin = json.dumps(conf).encode()
    p = subprocess.run(["ip", "netns", "exec", lab.host, "env", "-i", *[f"{k}={v}" for k, v in full.items()], PLUGIN],
                       input=stdin, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert b"from-the-delegate-ADD" in p.stderr
    assert seen.read_bytes() == stdin  # the same request, byte for byte
    assert json.loads(p.stdout)["ips"][0]["address"].startswith("10.70.8.")


def test_36_gc_goes_on_past_a_failure_and_forwards_gc_to_the_ipam_plugin(lab: Lab, tmp_path: Path) -> None:
    if not os.path.exists(f"{REF_DIR}/host-local"):
        pytest.skip("containernetworking-plugins is not installed")
    shim_dir = tmp_path / "plugins"
    shim_dir.mkdir()
    log = tmp_path / "ipam-calls"
    (shim_dir / "gc-fails-ipam").write_text(
        f"#!/bin/sh\necho \"$CNI_COMMAND\" >> {log}\n"
        f"if [ \"$CNI_COMMAND\" = GC ]; then echo '{{\"code\": 111, \"msg\": \"ipam gc broke\"}}'; exit 1; fi\n"
        # host-local here stops at 1.0.0: hand it the request as 1.0.0 (the plugin converts the result)
        f"sed 's/\"cniVersion\": \"1.1.0\"/\"cniVersion\": \"1.0.0\"/' | {REF_DIR}/host-local\n")
    (shim_dir / "gc-fails-ipam").chmod(0o755)
    data = tmp_path / "hl"
    conf = config(lab, version="1.1.0", subnet="10.70.9.0/24",
                  ipam={"type": "gc-fails-ipam", "subnet": "10.70.9.0/24", "dataDir": str(data)})
    path = f"{shim_dir}:{REF_DIR}"
    keep, drop = lab.netns(), lab.netns()
    for cid, ns in (("keep", keep), ("drop", drop)):
        rc, out = cni(lab, "ADD", conf, cid=cid, netns=nspath(ns), path=path)
        assert rc == 0, out
    gc = {**conf, "cni.dev/valid-attachments": [{"containerID": "keep", "ifname": "eth0"}]}
    rc, out = cni(lab, "GC", gc, cid="", ifname="", args="", path=path)
    assert rc == 1 and out["code"] == 102 and "ipam gc broke" in out["details"], out  # reported ...
    assert "GC" in log.read_text().split()  # ... after GC was forwarded to the IPAM plugin
    assert "eth0" not in lab.ip(drop, "-o link show") and "eth0" in lab.ip(keep, "-o link show")  # the rest was done
