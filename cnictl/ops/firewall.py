"""Firewall use cases: `fw show` (the rules cnictl owns), `fw reload` (apply them again from the records, after
a flush or a firewall restart) and `fw check` (what is missing or in the way, with its own `iptables`
look-ups), which networks a network's firewall lets in (`_open_peers`), and the firewall a network's plans are
handed (`_firewall_context`: the backend is built here, by the use case, through `cnictl.firewall.get_backend`).

    >>> from cnictl.host import Host
    >>> with Host(netns="h1", state_dir="/tmp/s") as host:                # doctest: +SKIP
    ...     fw_check(host)["problems"]
"""

from __future__ import annotations

import contextlib

from cnictl.errors import CnictlError, cli
from cnictl.firewall import get_backend
from cnictl.firewall.steps import ReloadRules
from cnictl.host import Host
from cnictl.model import Network, validate_network_name
from cnictl.ops.ports import _forwards, _v4
from cnictl.ops.requests import FwCheck, FwRules
from cnictl.ops.runner import Outcome, RunOptions, _run
from cnictl.plan import Plan
from cnictl.store import Store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.drivers.base import FirewallContext


def _open_peers(networks: list[Network], net: Network) -> tuple[str, ...]:
    """The links (bridges) of the other --no-isolate networks on the same firewall backend."""
    from cnictl.drivers import get_driver

    return tuple(link for n in networks if n.name != net.name and n.firewall == net.firewall
                 and (link := get_driver(n.driver).peer_link(n)))


def _firewall_context(networks: list[Network], net: Network) -> FirewallContext:
    """What the driver's create/delete plans of *net* are handed: its backend (built once, here), the peers'
    links, and whether it is the last of *networks* with rules in that backend (read from the records)."""
    from cnictl.drivers import get_driver
    from cnictl.drivers.base import FirewallContext

    last = not any(n.name != net.name and n.firewall == net.firewall and get_driver(n.driver).firewall(n) is not None
                   for n in networks)
    return FirewallContext(get_backend(net.firewall), _open_peers(networks, net), last)


def fw_show(host: Host, network: str | None = None) -> FwRules:
    from cnictl.drivers import get_driver

    store = Store(host.paths)
    net = store.get_network(validate_network_name(network)) if network is not None else None
    fw = get_driver(net.driver).firewall(net) if net is not None else None
    if net is not None and fw is None:  # cnictl has no rules for this network (macvlan)
        return FwRules([net.firewall])
    names = [net.firewall] if net is not None else sorted({n.firewall for n in store.networks()})
    backends = [get_backend(n) for n in names or [host.firewall_name]]
    return FwRules([b.name for b in backends], [r for b in backends for r in b.rules(fw)],
                   "".join(b.text(fw) for b in backends))

def _intents(host: Host) -> dict[str, tuple[list[Any], list[Any]]]:
    """Per firewall backend in use: every network's firewall intent and every published mapping (from state)."""
    from cnictl.drivers import get_driver
    from cnictl.ports import PortSpec

    store = Store(host.paths)
    out: dict[str, tuple[list[Any], list[Any]]] = {}
    networks = store.networks()
    for net in networks:
        fw = get_driver(net.driver).firewall(net, _open_peers(networks, net))
        if fw is None:
            continue  # cnictl has no rules for it (macvlan/ipvlan)
        nets, fwds = out.setdefault(net.firewall, ([], []))
        nets.append(fw)
        for att in store.attachments(net.name):
            if att.ports and att.addresses:
                fwds += _forwards(net, _v4(att.addresses), [PortSpec.from_dict(p) for p in att.ports])
    return out


def fw_reload(host: Host, opts: RunOptions | None = None) -> Outcome:
    """Re-apply every rule cnictl owns (after a flush or a firewall restart), one transaction per backend table.

    Ctrl-C is held until every backend has reloaded (a reload has nothing to undo: the change stands)."""
    from cnictl.plan import deferred_signals

    opts = opts or RunOptions()
    intents = _intents(host)
    plan = _reload_plan(host, intents)
    from cnictl.ops.requests import FwReloaded

    result = FwReloaded(sorted(intents), sum(len(n) for n, _ in intents.values()),
                        sum(len(f) for _, f in intents.values()))
    if opts.dry_run:
        return Outcome(result, plan)
    with deferred_signals():
        _run(host, plan, opts)
    commands = sum(step.commands for step in plan.steps if isinstance(step, ReloadRules))
    return Outcome(FwReloaded(result.backends, result.networks, result.port_mappings, commands), plan, applied=True)


def _reload_plan(host: Host, intents: dict[str, tuple[list[Any], list[Any]]]) -> Plan:
    """One ReloadRules step per firewall backend in use."""
    return Plan([ReloadRules(get_backend(name), nets, fwds) for name, (nets, fwds) in sorted(intents.items())])


def fw_check(host: Host) -> FwCheck:
    """What is missing or in the way: cnictl's own rules, foreign drop policies, br_netfilter, legacy iptables."""
    import shutil
    import subprocess

    from cnictl import sysctl

    intents = _intents(host)
    problems: list[str] = []
    notes: list[str] = []
    nets = [n for ns, _ in intents.values() for n in ns]
    fwds = [f for _, fs in intents.values() for f in fs]
    for name, (bnets, bfwds) in intents.items():
        backend = get_backend(name)
        problems += backend.check(bnets, bfwds)
        for chain in backend.foreign_forward_drops():
            problems.append(f"nft chain {chain} drops forwarded traffic by policy: cnictl networks cannot reach out "
                            "unless that chain accepts their bridges")
    if any(not n.internal for n in nets):
        with contextlib.suppress(CnictlError):
            if sysctl.read("net.ipv4.conf.all.forwarding") != "1":
                problems.append(f"IPv4 forwarding is off: containers cannot reach out (run: {cli('forward enable')})")
    with contextlib.suppress(CnictlError):
        if sysctl.read("net.bridge.bridge-nf-call-iptables") == "1":
            notes.append("br_netfilter is on (net.bridge.bridge-nf-call-iptables=1): traffic within a bridge also "
                         "passes the IP firewall hooks")
    legacy = shutil.which("iptables-legacy-save")
    selected = subprocess.run(["iptables", "-V"], capture_output=True, text=True).stdout if shutil.which("iptables") else ""
    if legacy and "legacy" not in selected:  # when iptables itself is legacy, those rules are cnictl's own
        out = subprocess.run([legacy], capture_output=True, text=True, timeout=10).stdout
        if ":FORWARD DROP" in out:
            problems.append("iptables-legacy FORWARD policy is DROP: it drops cnictl's forwarded traffic")
        if any(line.startswith("-A ") for line in out.splitlines()):
            problems.append("iptables-legacy rules are present next to nftables rules: both apply, in an order "
                            "that is hard to predict (move them to nftables or iptables-nft)")
    return FwCheck(sorted(intents), not problems, problems, notes, len(nets), len(fwds))

