"""Bridge networks on the real kernel: connectivity, NAT, isolation, --internal, dual stack, and no trace left."""

from __future__ import annotations

import json
import subprocess
import time

from conftest import Lab, sh

SERVER = (
    "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
    "s.bind(('203.0.113.2', 8080)); s.listen(1); s.settimeout(15); c,a=s.accept(); print(a[0], flush=True)"
)
CLIENT = "import socket; socket.create_connection(('203.0.113.2', 8080), timeout=3).close()"


def connect_upstream(lab: Lab, up: str, ns: str) -> tuple[bool, str]:
    """TCP connect from *ns* to the upstream server; returns (connected, source address the upstream saw)."""
    srv = subprocess.Popen(["ip", "netns", "exec", up, "/usr/bin/python3", "-c", SERVER],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        ok = lab.exec(ns, f'/usr/bin/python3 -c "{CLIENT}"', check=False).returncode == 0
        if not ok:
            return False, ""
        out, _ = srv.communicate(timeout=10)
        return True, out.strip()
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()


def test_same_network_ping_and_kernel_objects(lab: Lab) -> None:
    web, db = lab.netns(), lab.netns()
    created = lab.json("net", "create", "lab", "--subnet", "10.20.0.0/24")
    assert created["bridge"] == "br-lab" and created["subnets"][0]["gateway"] == "10.20.0.1"
    a = lab.json("attach", "lab", web)
    b = lab.json("attach", "lab", db, "--ip", "10.20.0.50")
    assert a["addresses"] == ["10.20.0.2/24"] and b["addresses"] == ["10.20.0.50/24"]
    assert lab.ping(web, "10.20.0.50") and lab.ping(db, "10.20.0.2")
    # the kernel objects, as ip sees them
    assert "10.20.0.1/24" in lab.ip(lab.host, "addr show dev br-lab")
    assert "master br-lab" in lab.ip(lab.host, f"link show {a['host_ifname']}")
    assert lab.exec(lab.host, f"sysctl -n net.ipv6.conf.{a['host_ifname']}.accept_ra").stdout.strip() == "0"
    assert "default via 10.20.0.1 dev eth0" in lab.ip(web, "route")
    assert a["mac"] in lab.ip(web, "link show eth0")
    assert lab.exec(lab.host, "sysctl -n net.ipv4.conf.all.forwarding").stdout.strip() == "1"
    # IPAM and inspect agree
    shown = lab.json("ipam", "show", "lab")
    assert {(x["ip"], x["netns"]) for x in shown["allocations"]} == {("10.20.0.2", web), ("10.20.0.50", db)}
    assert shown["subnets"][0]["used"] == 2 and shown["subnets"][0]["free"] == 251
    assert (lab.state / "ipam" / "lab" / "10.20.0.50").read_bytes() == f"{db}\r\neth0".encode()
    inspect = lab.json("net", "inspect", "lab")
    assert sorted(x["netns"] for x in inspect["attachments"]) == sorted([web, db])
    # idempotent re-attach, and detach of something not attached
    again = lab.cli("attach", "lab", web)
    assert "already attached" in again.stderr
    lab.cli("detach", "lab", db)
    gone = lab.cli("detach", "lab", db)
    assert "not attached" in gone.stderr
    assert not lab.ping(web, "10.20.0.50")


def test_masquerade_upstream_sees_host_address(lab: Lab) -> None:
    up = lab.upstream()
    web = lab.netns()
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    lab.cli("attach", "lab", web)
    ok, seen = connect_upstream(lab, up, web)
    assert ok and seen == "203.0.113.1"
    assert "masquerade" in lab.cli("fw", "show", "lab").stdout


def test_no_masquerade_means_no_way_back(lab: Lab) -> None:
    up = lab.upstream()
    web = lab.netns()
    lab.cli("net", "create", "plain", "--subnet", "10.21.0.0/24", "--no-masquerade")
    lab.cli("attach", "plain", web)
    ok, _ = connect_upstream(lab, up, web)
    assert not ok  # the upstream has no route to 10.21.0.0/24: only NAT would bring replies back


def test_isolation_between_networks(lab: Lab) -> None:
    a1, a2, b1 = lab.netns(), lab.netns(), lab.netns()
    lab.cli("net", "create", "neta", "--subnet", "10.30.0.0/24")
    lab.cli("net", "create", "netb", "--subnet", "10.31.0.0/24")
    lab.cli("attach", "neta", a1)
    lab.cli("attach", "neta", a2)
    b = lab.json("attach", "netb", b1)
    b_ip = b["addresses"][0].split("/")[0]
    assert lab.ping(a1, "10.30.0.3")
    assert not lab.ping(a1, b_ip)
    assert not lab.ping(b1, "10.30.0.2")
    # without the isolation rule the host would route it: remove cnictl's table and it goes through
    lab.exec(lab.host, "nft delete table inet cnictl")
    assert lab.ping(a1, b_ip)


def test_internal_network_stays_on_the_bridge(lab: Lab) -> None:
    up = lab.upstream()
    i1, i2 = lab.netns(), lab.netns()
    lab.cli("net", "create", "priv", "--subnet", "10.40.0.0/24", "--internal")
    lab.cli("attach", "priv", i1)
    lab.cli("attach", "priv", i2)
    assert lab.ping(i1, "10.40.0.3")
    assert "default" not in lab.ip(i1, "route")
    # even with a route added by hand, the forward chain drops traffic leaving the bridge
    lab.ip(i1, "route add default via 10.40.0.1")
    assert not lab.ping(i1, "203.0.113.2")
    assert lab.ping(lab.host, "203.0.113.2")  # the upstream itself is reachable from the host
    assert "masquerade" not in lab.cli("fw", "show", "priv").stdout
    assert not connect_upstream(lab, up, i1)[0]


def test_dual_stack(lab: Lab) -> None:
    c1, c2 = lab.netns(), lab.netns()
    lab.cli("net", "create", "ds", "--subnet", "10.50.0.0/24", "--subnet", "fd00:50::/64")
    r1 = lab.json("attach", "ds", c1)
    lab.json("attach", "ds", c2)
    assert r1["addresses"] == ["10.50.0.2/24", "fd00:50::2/64"]
    assert lab.exec(c1, "ping -6 -c1 -W2 fd00:50::3", check=False).returncode == 0
    assert lab.ping(c1, "10.50.0.3")
    assert "default via fd00:50::1" in lab.ip(c1, "-6 route")
    assert lab.exec(lab.host, "sysctl -n net.ipv6.conf.all.forwarding").stdout.strip() == "1"
    assert "ip6 saddr fd00:50::/64" in lab.cli("fw", "show", "ds").stdout


def test_default_subnet_avoids_routes_and_networks(lab: Lab) -> None:
    lab.ip(lab.host, "link add dm0 type veth peer name dm1")
    lab.ip(lab.host, "addr add 10.89.0.1/24 dev dm0")
    lab.ip(lab.host, "link set dm0 up")
    first = lab.json("net", "create", "auto1")
    second = lab.json("net", "create", "auto2")
    assert first["subnets"][0]["subnet"] == "10.89.1.0/24"  # 10.89.0.0/24 is routed in the host
    assert second["subnets"][0]["subnet"] == "10.89.2.0/24"


def test_no_trace_after_detach_and_rm(lab: Lab) -> None:
    web, db = lab.netns(), lab.netns()
    before = lab.snapshot(extra=[web, db])
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24", "--label", "env=test")
    lab.cli("attach", "lab", web)
    lab.cli("attach", "lab", db)
    assert lab.snapshot(extra=[web, db]) != before
    lab.cli("detach", "lab", db)
    lab.cli("detach", "lab", web)
    lab.cli("net", "rm", "lab")
    after = lab.snapshot(extra=[web, db])
    # forwarding stays on after rm (as docker leaves it); everything else is back
    before.pop("fwd4"), after.pop("fwd4")
    assert after == before
    assert lab.exec(lab.host, "nft list tables").stdout.strip() == ""
    assert not (lab.state / "ipam" / "lab").exists()


def test_rm_force_detaches_everything(lab: Lab) -> None:
    web = lab.netns()
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    lab.cli("attach", "lab", web)
    r = lab.json("net", "rm", "lab", "--force")
    assert r["removed"] and r["detached"] == 1
    assert "eth0" not in lab.ip(web, "link")
    assert lab.json("net", "ls") == []


def test_dry_run_changes_nothing_and_explains(lab: Lab) -> None:
    web = lab.netns()
    before = lab.snapshot(extra=[web])
    out = lab.cli("--dry-run", "net", "create", "lab", "--subnet", "10.20.0.0/24").stdout
    assert f"ip -n {lab.host} link add br-lab address " in out
    assert f"ip -n {lab.host} addr add 10.20.0.1/24 dev br-lab" in out
    assert "sysctl -w net.ipv4.conf.all.forwarding=1" in out
    assert "masquerade" in out
    assert lab.snapshot(extra=[web]) == before
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    mid = lab.snapshot(extra=[web])
    plan = lab.cli("attach", "lab", web, "--dry-run").stdout
    assert f"peer name eth0 netns {web}" in plan and f"ip -n {web} addr add 10.20.0.2/24 dev eth0" in plan
    assert lab.snapshot(extra=[web]) == mid
    explained = lab.cli("--explain", "attach", "lab", web)
    assert f"+ ip -n {web} route add default via 10.20.0.1 dev eth0" in explained.stderr


def test_explained_commands_reproduce_the_same_state(lab: Lab) -> None:
    """Run the --dry-run text with ip/nft/sysctl in a second host: the kernel ends up the same."""
    web = lab.netns()
    plan = lab.cli("--dry-run", "net", "create", "lab", "--subnet", "10.20.0.0/24").stdout.splitlines()
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    twin = lab.netns("h")
    for line in plan:
        if line.startswith("#"):
            continue
        sh(line.replace(lab.host, twin))
    for ns in (lab.host, twin):
        assert "10.20.0.1/24" in lab.ip(ns, "addr show dev br-lab")
    assert lab.exec(lab.host, "nft list ruleset").stdout == lab.exec(twin, "nft list ruleset").stdout
    del web


def test_attach_by_path(lab: Lab) -> None:
    target = lab.netns()
    proc = subprocess.Popen(["ip", "netns", "exec", target, "sleep", "30"])
    try:
        time.sleep(0.2)
        path = f"/proc/{proc.pid}/ns/net"
        lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
        r = lab.json("attach", "lab", path)
        assert r["netns"] == path and "10.20.0.2/24" in lab.ip(target, "addr show eth0")
        lab.cli("detach", "lab", path)
        assert "eth0" not in lab.ip(target, "link")
    finally:
        proc.kill()
        proc.wait()


def test_ns_commands(lab: Lab) -> None:
    name = lab.track(f"{lab.host}x")
    lab.cli("ns", "add", name)
    assert name in sh("ip netns list").stdout
    assert "UP" in lab.ip(name, "link show lo")
    assert name in [n["name"] for n in lab.json("ns", "ls")]
    assert lab.cli("ns", "add", name, check=False).returncode == 4
    lab.cli("ns", "add", name, "--exist-ok")
    out = lab.cli("ns", "exec", name, "--", "ip", "-o", "link", "show", "lo")
    assert "lo" in out.stdout
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    lab.cli("attach", "lab", name)
    r = lab.json("ns", "rm", name)
    assert r["detached"] == ["lab/eth0"]
    assert name not in sh("ip netns list").stdout
    assert lab.json("ipam", "show", "lab")["allocations"] == []
    lab.cli("ns", "rm", name, "--missing-ok")


def _root_forwarding() -> str:
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        return f.read().strip()


def test_forward_commands(lab: Lab) -> None:
    root_before = _root_forwarding()
    st = {r["interface"]: r for r in lab.json("forward", "status", "--ipv6")}
    assert st["all"]["ipv4"] is False and "lo" in st
    r = lab.json("forward", "enable", "--ipv6", "--persist")
    assert r["changed"] == ["net.ipv4.conf.all.forwarding", "net.ipv6.conf.all.forwarding"]
    assert lab.exec(lab.host, "sysctl -n net.ipv4.conf.all.forwarding").stdout.strip() == "1"
    conf = (lab.state / "sysctl.d" / "90-cnictl-forward.conf").read_text()
    assert "net.ipv4.conf.all.forwarding = 1" in conf
    assert lab.json("forward", "enable")["changed"] == []
    lab.cli("forward", "disable", "--ipv6")
    st = {r["interface"]: r for r in lab.json("forward", "status")}
    assert st["all"]["ipv4"] is False
    # the machine's own forwarding was never touched
    assert _root_forwarding() == root_before


def test_hostlocal_plugin_shares_the_network_directory(lab: Lab) -> None:
    """The reference host-local plugin and cnictl allocate from one directory without a double hand-out."""
    c1, c2 = lab.netns(), lab.netns()
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    lab.cli("attach", "lab", c1)  # 10.20.0.2
    conf = {"cniVersion": "1.0.0", "name": "lab", "type": "bridge",
            "ipam": {"type": "host-local", "dataDir": str(lab.state / "ipam"), "ranges": [[{"subnet": "10.20.0.0/24"}]]}}
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "ref1", "CNI_NETNS": f"/run/netns/{c2}", "CNI_IFNAME": "eth1",
           "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    p = subprocess.run(["/usr/lib/cni/host-local"], input=json.dumps(conf), capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["ips"][0]["address"] == "10.20.0.3/24"
    r = lab.json("attach", "lab", c2)
    assert r["addresses"] == ["10.20.0.4/24"]
    shown = {a["ip"]: a["container_id"] for a in lab.json("ipam", "show", "lab")["allocations"]}
    assert shown == {"10.20.0.2": c1, "10.20.0.3": "ref1", "10.20.0.4": c2}
    env["CNI_COMMAND"] = "DEL"
    assert subprocess.run(["/usr/lib/cni/host-local"], input=json.dumps(conf), capture_output=True, text=True,
                          env=env).returncode == 0
    assert "10.20.0.3" not in {a["ip"] for a in lab.json("ipam", "show", "lab")["allocations"]}


def test_one_namespace_on_two_networks(lab: Lab) -> None:
    web, a, b = lab.netns(), lab.netns(), lab.netns()
    lab.cli("net", "create", "n1", "--subnet", "10.81.0.0/24")
    lab.cli("net", "create", "n2", "--subnet", "10.82.0.0/24")
    lab.cli("attach", "n1", web)
    lab.cli("attach", "n2", web, "--ifname", "eth1")
    lab.cli("attach", "n1", a)
    lab.cli("attach", "n2", b)
    routes = lab.ip(web, "route")
    assert "default via 10.81.0.1 dev eth0" in routes and "10.82.0.1" not in routes.split("\n")[0]
    assert lab.ping(web, "10.81.0.3") and lab.ping(web, "10.82.0.3")
    lab.cli("detach", "n2", web, "--ifname", "eth1")
    assert "eth1" not in lab.ip(web, "link") and lab.ping(web, "10.81.0.3")
