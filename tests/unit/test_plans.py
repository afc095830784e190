"""Every plan the CLI can build, built without root and without touching any kernel, and every step of it
explains itself (issue 10, target 4).

The plans come from the same planning functions the commands use (the drivers' plan_* and the ops
`*_plan` helpers), given already validated Networks and Attachments; the Host is never entered. For each
step: it is a named Step (there is no anonymous one left), it has a summary, and `explain(host)` returns at
least one line.

Golden files: the explain text of each driver's plans (create, attach, detach, delete; the port plans)
is compared with tests/data/plans/<name>.txt. After an intended change of the explain text, rewrite them
with

    CNICTL_UPDATE_GOLDENS=1 .venv/bin/python -m pytest tests/unit/test_plans.py

and review the diff. Nothing in them is masked: the inputs fix every part that is random in real use
(the MAC addresses and creation times are in the records, the leases are given, the names of throwaway
probe links and host-access MACs come from fixed random sources).

The firewall backends are the real ones, built by the ops helpers as the commands build them; explaining
reads no kernel (the nftables teardown is told at planning time, from the records, whether the network is
the table's last), and a backend that reached for libnftables or iptables would fail the test.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cnictl import errors
from cnictl.host import Host
from cnictl.ipam.allocator import Lease
from cnictl.ipam.hostlocal import HostLocalStore
from cnictl.model import Attachment, Network
from cnictl.netns import NetnsRef
from cnictl.plan import Plan, Step
from cnictl.store import Store

GOLDENS = Path(__file__).resolve().parent.parent / "data" / "plans"
UPDATE = os.environ.get("CNICTL_UPDATE_GOLDENS") == "1"
STATE = "/nonexistent/cnictl-plans"  # never created: the golden plans read and write nothing
CREATED = "2026-01-01T00:00:00Z"


@pytest.fixture(autouse=True)
def _no_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explaining a plan must not change (or need) the kernel: the backends' ways to it fail the test."""
    from cnictl.firewall.iptables import IptablesBackend
    from cnictl.firewall.nftables import NftablesBackend

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("explaining a plan asked the kernel")

    monkeypatch.setattr(NftablesBackend, "_ctx", refuse)
    monkeypatch.setattr(IptablesBackend, "_run", refuse)


@pytest.fixture(autouse=True)
def _keep_cli_prefix() -> Iterator[None]:
    saved = errors.CLI_PREFIX
    yield
    errors.CLI_PREFIX = saved


@pytest.fixture
def fixed_random(monkeypatch: pytest.MonkeyPatch) -> None:
    """os.urandom as a counter: the probe link names and the shim MACs drivers draw become fixed inputs."""
    state = {"n": 0}

    def urandom(n: int) -> bytes:
        state["n"] += 1
        return bytes((state["n"] + i) % 256 for i in range(n))

    monkeypatch.setattr(os, "urandom", urandom)


def make_host(state_dir: str | Path = STATE) -> Host:
    return Host(state_dir=state_dir)


# ---- inputs: records as `net create` / `attach` write them (release 0.1 layout) -------------------------
def bridge_record(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "lab", "driver": "bridge", "bridge": "br-lab",
        "subnets": [{"subnet": "10.20.0.0/24", "gateway": "10.20.0.1", "ip_range": None}],
        "mtu": None, "internal": False, "masquerade": True, "managed_bridge": True, "labels": {},
        "created": CREATED, "mac": "02:42:0a:14:00:01", "isolate": True, "icc": True, "firewall": "nftables",
    }
    d.update(over)
    return d


def macvlan_record(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "lan", "driver": "macvlan", "bridge": "",
        "subnets": [{"subnet": "192.168.1.0/24", "gateway": "192.168.1.1", "ip_range": "192.168.1.192/27"}],
        "mtu": None, "internal": False, "masquerade": False, "managed_bridge": False, "labels": {},
        "created": CREATED, "mac": None, "isolate": True, "icc": True, "firewall": "none",
        "parent": "eth0", "mode": "bridge", "vlan": None, "vlan_parent": None, "managed_parent": False,
        "host_access": False, "shim": None, "shim_addresses": [],
    }
    d.update(over)
    return d


NETWORKS: dict[str, dict[str, Any]] = {
    "bridge": bridge_record(),
    "bridge-existing": bridge_record(bridge="br0", managed_bridge=False, mac=None),
    "bridge-internal": bridge_record(internal=True, masquerade=False),
    "bridge-no-isolate": bridge_record(isolate=False),
    "bridge-no-icc": bridge_record(icc=False),
    "bridge-dual-stack": bridge_record(subnets=[
        {"subnet": "10.20.0.0/24", "gateway": "10.20.0.1", "ip_range": None},
        {"subnet": "fd00:20::/64", "gateway": "fd00:20::1", "ip_range": None}]),
    "bridge-iptables": bridge_record(firewall="iptables"),
    "macvlan": macvlan_record(),
    "macvlan-host-access": macvlan_record(host_access=True, shim="mvh-lan",
                                          shim_addresses=["192.168.1.192/32"]),
    "macvlan-vlan": macvlan_record(parent="eth0.10", vlan=10, vlan_parent="eth0", managed_parent=True),
    "ipvlan": macvlan_record(driver="ipvlan", mode="l2"),
}
PEERS = {"bridge-no-isolate": ("br-other",)}


def network(key: str) -> Network:
    return Network.from_dict(dict(NETWORKS[key]))


def attachment(net: Network, **over: Any) -> Attachment:
    from cnictl.model import host_ifname

    bridged = net.driver == "bridge"
    d: dict[str, Any] = {
        "network": net.name, "container_id": "web", "netns": "web", "netns_key": "web", "ifname": "eth0",
        "host_ifname": host_ifname(net.name, "web", "eth0") if bridged else "",
        "mac": "02:42:0a:14:00:02" if net.driver != "ipvlan" else "",
        "addresses": [], "gateways": [] if net.internal else [s.gateway for s in net.subnets], "created": CREATED,
        "ports": [], "hairpin": False,
    }
    d.update(over)
    return Attachment.from_dict(d)


def leases(net: Network, host_part: int = 2) -> list[Lease]:
    from cnictl.ops.ipam import _ranges

    out = []
    for i, rng in enumerate(_ranges(net)):
        first = rng.range_start if net.subnets[i].ip_range else rng.subnet.network_address + host_part
        out.append(Lease(ip=ipaddress.ip_address(first), prefixlen=rng.prefixlen, gateway=rng.gateway, range_index=i))
    return out


# ---- the checks ------------------------------------------------------------------------------------
def explained(host: Host, plan: Plan, *, empty_ok: bool = False) -> list[str]:
    """Check every step of *plan* explains itself; the plan's explain text."""
    assert plan.steps or empty_ok, "an empty plan"
    for step in plan.steps:
        assert isinstance(step, Step)
        assert type(step).__name__ != "Call", f"an anonymous step: {step.summary}"
        assert step.summary, f"a step without a summary: {step!r}"
        lines = step.explain(host)
        assert lines and all(isinstance(ln, str) and ln for ln in lines), f"{step.summary}: explains nothing"
        journaled(host, step)
    return plan.explain(host)


def journaled(host: Host, step: Step) -> None:
    """The step's journal line is plain JSON, and the step rebuilt from it (as recovery rebuilds it after a
    crash) is the same step: same summary and, unless it depends on what an earlier step chose when it ran
    (it then has journal_out), the same explain text."""
    from cnictl import jsonlite

    data = step.journal()
    if not step.journaled:
        assert data is None, f"{type(step).__name__} says it is not journaled, yet journal() gives {data}"
        return
    assert isinstance(data, dict), f"{type(step).__name__}: no journal data (set journaled = False if none is needed)"
    text = jsonlite.dumps(data)
    again = type(step).resume(host, jsonlite.loads(text), None)
    assert type(again) is type(step) and again.summary == step.summary
    if type(step).journal_out is Step.journal_out:
        assert again.explain(host) == step.explain(host), f"{step.summary}: resumed, it explains otherwise"


def golden(name: str, host: Host, plan: Plan) -> None:
    text = "".join(f"{ln}\n" for ln in explained(host, plan))
    path = GOLDENS / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden {path}: run with CNICTL_UPDATE_GOLDENS=1"
    assert text == path.read_text(), f"{name}: the explain text differs from {path} (CNICTL_UPDATE_GOLDENS=1 rewrites it)"


# ---- drivers: create, attach, detach, delete; net rm ------------------------------------------------
BRIDGES = [k for k in NETWORKS if NETWORKS[k]["driver"] == "bridge"]


@pytest.mark.parametrize("key", sorted(NETWORKS))
def test_create_and_delete(key: str, fixed_random: None) -> None:
    """net create (the driver's steps and the record) and net rm (the driver's teardown, IPAM, the record)."""
    from cnictl.ops.networks import _create_plan, _delete_plan

    host = make_host()
    store = Store(host.paths)
    net = network(key)
    others = [Network.from_dict(bridge_record(name="other", bridge="br-other", isolate=False))] if key in PEERS else []
    golden(f"{key}.create", host, _create_plan(host, store, net, others))
    golden(f"{key}.rm", host, _delete_plan(host, store, net, []))


def test_rm_force_and_cni_conf_dir(tmp_path: Path) -> None:
    """net rm --force detaches every attachment first; --cni-conf-dir writes (and net rm removes) a conflist."""
    from cnictl.ops.networks import _create_plan, _delete_plan

    host = make_host()
    store = Store(host.paths)
    net = network("bridge")
    golden("bridge.rm-force", host, _delete_plan(host, store, net, [attached(net)]))
    plan = _create_plan(host, store, net, [], str(tmp_path / "net.d"))
    assert any(ln.startswith("# CNI: write ") for ln in explained(host, plan))
    assert any(ln.startswith("rm -f ") for ln in explained(host, _delete_plan(host, store, net, [])))


def test_rm_of_one_of_several_nftables_networks(tmp_path: Path) -> None:
    """Not the table's last network (the records say so, no kernel is asked): net rm deletes its chains and
    its set elements, and the table stays; internal (no nat chain) only its filter chain."""
    from cnictl.ops.networks import _delete_plan

    host = make_host(tmp_path)
    store = Store(host.paths)
    store.save_network(Network.from_dict(bridge_record(name="other", bridge="br-other", subnets=[
        {"subnet": "10.30.0.0/24", "gateway": "10.30.0.1", "ip_range": None}])))
    lines = explained(host, _delete_plan(host, store, network("bridge-no-isolate"), []))
    assert lines[:4] == ["nft 'delete chain inet cnictl lab-fwd'", "nft 'delete chain inet cnictl lab-nat'",
                         "nft 'delete element inet cnictl bridges { \"br-lab\" }'",
                         "nft 'delete element inet cnictl open { \"br-lab\" }'"]
    lines = explained(host, _delete_plan(host, store, network("bridge-internal"), []))
    assert lines[:2] == ["nft 'delete chain inet cnictl lab-fwd'", "nft 'delete element inet cnictl bridges { \"br-lab\" }'"]


def attach_plan(host: Host, net: Network, att: Attachment, *, ip: str | None = None,
                ports: tuple[str, ...] = ()) -> Plan:
    """The plan `attach` builds for *att* (a dry run: the leases are predicted from an empty IPAM directory)."""
    from cnictl.ops.attachments import _attach_plan, _requested_ip
    from cnictl.ops.ipam import _ranges
    from cnictl.ports import PortSpec

    store = Store(host.paths)
    ranges = _ranges(net)
    ipam = HostLocalStore(host.paths.ipam_root / net.name)
    specs = [PortSpec.parse(p) for p in ports]
    plan, _reserve = _attach_plan(host, store, net, att, NetnsRef.parse(att.netns), ipam, ranges,
                                  _requested_ip(net, ranges, ip), specs, None, dry_run=True)
    return plan


def attached(net: Network, **over: Any) -> Attachment:
    """The record of an attachment that attach_plan made (addresses filled in)."""
    att = attachment(net, **over)
    if not att.addresses:
        att.addresses = [lease.cidr for lease in leases(net)]
    return att


@pytest.mark.parametrize("key", sorted(NETWORKS))
def test_attach_and_detach(key: str) -> None:
    from cnictl.ops.attachments import _detach_plan

    host = make_host()
    net = network(key)
    golden(f"{key}.attach", host, attach_plan(host, net, attachment(net)))
    ipam = HostLocalStore(host.paths.ipam_root / net.name)
    golden(f"{key}.detach", host, _detach_plan(host, Store(host.paths), net, attached(net), ipam))


def test_attach_options() -> None:
    """-p ports, hairpin (CNI hairpinMode), a static --ip and --mac."""
    host = make_host()
    net = network("bridge")
    golden("bridge.attach-ports", host, attach_plan(host, net, attachment(net), ports=("8080:80", "127.0.0.1:5353:53/udp")))
    golden("bridge.attach-hairpin", host, attach_plan(host, net, attachment(net, hairpin=True)))
    golden("bridge.attach-static", host, attach_plan(host, net, attachment(net, mac="02:00:00:00:00:99"), ip="10.20.0.50"))
    lan = network("macvlan")
    golden("macvlan.attach-static", host, attach_plan(host, lan, attachment(lan), ip="192.168.1.200"))


def test_ports() -> None:
    """port publish / unpublish on an attachment, and the detach of one that has published ports."""
    from cnictl.ops.attachments import _detach_plan
    from cnictl.ops.ports import _port_publish_plan, _port_unpublish_plan
    from cnictl.ports import PortSpec

    host = make_host()
    store = Store(host.paths)
    net = network("bridge")
    spec = PortSpec.parse("8080:80")
    golden("bridge.publish", host, _port_publish_plan(host, store, net, attached(net), [spec]))
    published = attached(net, ports=[spec.to_dict(), PortSpec.parse("9090:90/udp").to_dict()])
    golden("bridge.unpublish", host, _port_unpublish_plan(host, store, net, published, spec))
    ipam = HostLocalStore(host.paths.ipam_root / net.name)
    golden("bridge.detach-ports", host, _detach_plan(host, store, net, published, ipam))


# ---- the other mutating commands ---------------------------------------------------------------------
def test_namespaces_and_links() -> None:
    """ns add, ns rm (detaching an attachment and forgetting a direct link first), link add, link rm."""
    from cnictl.ops.links import LinkRecord, LinkStore, _link_add_plan, _link_remove_plan
    from cnictl.ops.namespaces import _ns_add_plan, _ns_remove_plan

    host = make_host()
    golden("ns.add", host, _ns_add_plan(NetnsRef.parse("web")))
    rec = LinkRecord(netns1="r1", netns_key1="r1", ifname1="eth1", netns2="r2", netns_key2="r2", ifname2="eth1",
                     addresses1=["10.0.12.1/30"], addresses2=["10.0.12.2/30", "fd00:12::2/64"], mtu=1400,
                     created=CREATED)
    links = LinkStore(host.paths.state_dir)
    golden("link.add", host, _link_add_plan(links, rec))
    golden("link.rm", host, _link_remove_plan(links, rec, NetnsRef.parse("r1"), "eth1", True))
    explained(host, _link_remove_plan(links, rec, NetnsRef.parse("r1"), "eth1", False))  # already gone: the record
    explained(host, _link_remove_plan(links, None, NetnsRef.parse("r1"), "eth1", True))  # --force: no record
    plan, detached = _ns_remove_plan(host, Store(host.paths), NetnsRef.parse("web"))
    golden("ns.rm", host, plan)  # nothing recorded in the (absent) state: the namespace only


def test_ns_rm_with_attachments_and_links(tmp_path: Path) -> None:
    from cnictl.ops.links import LinkRecord, LinkStore
    from cnictl.ops.namespaces import _ns_remove_plan

    host = make_host(tmp_path)
    store = Store(host.paths)
    net = network("bridge")
    store.save_network(net)
    store.save_attachment(attached(net))
    LinkStore(host.paths.state_dir).save(LinkRecord(netns1="web", netns_key1="web", ifname1="eth1", netns2="r2",
                                                    netns_key2="r2", ifname2="eth1", created=CREATED))
    plan, detached = _ns_remove_plan(host, store, NetnsRef.parse("web"))
    assert detached == ["lab/eth0"]
    lines = explained(host, plan)
    assert "ip netns del web" in lines and any(ln.startswith("# state: remove") and "links" in ln for ln in lines)


@pytest.mark.parametrize("enable", [True, False])
def test_forward(enable: bool) -> None:
    from cnictl.ops.forward import forward_set
    from cnictl.ops.runner import RunOptions

    host = make_host()
    plan = forward_set(host, enable, ipv6=True, persist=True, opts=RunOptions(dry_run=True)).plan
    golden(f"forward.{'enable' if enable else 'disable'}", host, plan)
    explained(host, forward_set(host, enable, opts=RunOptions(dry_run=True)).plan)


def state_with_networks(tmp_path: Path) -> Host:
    """A state directory holding a bridge network with a published port, an iptables one and a macvlan one."""
    from cnictl.ports import PortSpec

    host = make_host(tmp_path)
    store = Store(host.paths)
    for key, name in (("bridge", "lab"), ("bridge-iptables", "ipt"), ("macvlan", "lan")):
        rec = dict(NETWORKS[key], name=name)
        if key == "bridge-iptables":
            rec.update(bridge="br-ipt", subnets=[{"subnet": "10.30.0.0/24", "gateway": "10.30.0.1", "ip_range": None}])
        store.save_network(Network.from_dict(rec))
    lab = store.get_network("lab")
    store.save_attachment(attached(lab, ports=[PortSpec.parse("8080:80").to_dict()]))
    return host


def test_fw_reload(tmp_path: Path) -> None:
    from cnictl.ops.firewall import fw_reload
    from cnictl.ops.runner import RunOptions

    host = state_with_networks(tmp_path)
    outcome = fw_reload(host, RunOptions(dry_run=True))
    assert outcome.result["backends"] == ["iptables", "nftables"] and outcome.result["port_mappings"] == 1
    assert len(outcome.plan.steps) == 2  # one transaction per backend in use; the macvlan network has no rules
    golden("fw.reload", host, outcome.plan)


def test_ipam_release_and_gc(tmp_path: Path) -> None:
    """ipam release (an address, a container id), and the CNI-side DEL without a record and GC."""
    from cnictl.ipam.allocator import Range
    from cnictl.ops.cni import detach_container, gc_network
    from cnictl.ops.ipam import ipam_release
    from cnictl.ops.runner import RunOptions

    host = state_with_networks(tmp_path)
    ipam = HostLocalStore(host.paths.ipam_root / "lab")
    rng = [Range.build("10.20.0.0/24", "10.20.0.1")]
    ipam.allocate(rng, "web", "eth0", [ipaddress.ip_address("10.20.0.2")])
    ipam.allocate(rng, "gone", "eth0", [])
    ipam.allocate(rng, "gone", "eth1", [])
    dry = RunOptions(dry_run=True)
    one = ipam_release(host, "lab", "10.20.0.3", opts=dry)
    assert one.result["released"] == ["10.20.0.3"]
    assert explained(host, one.plan) == [f"# IPAM: release 10.20.0.3 of gone/eth0 (rm {ipam.directory}/10.20.0.3)"]
    assert ipam_release(host, "lab", container_id="gone", opts=dry).result["released"] == ["10.20.0.3", "10.20.0.4"]
    explained(host, ipam_release(host, "lab", container_id="gone", opts=dry).plan)
    gc = gc_network(host, "lab", {("web", "eth0")}, dry)
    assert gc.result["released"] == ["10.20.0.3", "10.20.0.4"]
    explained(host, gc.plan)
    gc_all = gc_network(host, "lab", set(), dry)  # the recorded attachment goes too: a whole detach plan
    assert gc_all.result["detached"] == ["web/eth0"]
    explained(host, gc_all.plan)
    explained(host, detach_container(host, "lab", "gone", "eth1", None, dry).plan)  # no record, no namespace
    explained(host, detach_container(host, "lab", "web", "eth0", None, dry).plan)  # by its record
    assert len(ipam.allocations()) == 3  # nothing was released


def test_every_step_class_explains_itself() -> None:
    """Each Step class of cnictl overrides explain(), so a new step cannot silently drop out of --dry-run."""
    import importlib
    import pkgutil

    import cnictl
    from cnictl.plan import FailStep

    for mod in pkgutil.walk_packages(cnictl.__path__, "cnictl."):
        if not mod.name.endswith("__main__"):  # that one runs the CLI
            importlib.import_module(mod.name)
    found: list[type[Step]] = []
    todo: list[type[Step]] = [Step]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("cnictl.") and sub is not FailStep:
                found.append(sub)
            todo.append(sub)
    assert len(found) > 30
    silent = [f"{c.__module__}.{c.__name__}" for c in found if c.explain is Step.explain]
    assert not silent, f"Step classes without explain(): {silent}"
