"""Network namespaces: `ns add/ls/rm/exec`. Removing a namespace detaches it from every cnictl network first
and forgets the direct links (cnictl.ops.links) that went with it.

    >>> from cnictl.host import Host
    >>> with Host(netns="h1", state_dir="/tmp/s") as host:                # doctest: +SKIP
    ...     ns_add(host, "web", exist_ok=True)
"""

from __future__ import annotations

import os

from cnictl.errors import CnictlError, ConfigError, ConflictError, NetnsNotFoundError, NotFoundError, cli
from cnictl.host import Host
from cnictl.netns import NetnsRef
from cnictl.ops.attachments import _detach_plan
from cnictl.ops.requests import NamespaceView, Removed
from cnictl.ops.runner import Outcome, RunOptions, _run
from cnictl.plan import Plan
from cnictl.store import Store


def ns_add(host: Host, name: str, opts: RunOptions | None = None, *, exist_ok: bool = False) -> Outcome:
    opts = opts or RunOptions()
    ref = NetnsRef.parse(name)
    if ref.exists():
        if exist_ok:
            return Outcome(NamespaceView(name, ref.path), Plan(), [f'network namespace "{name}" already exists'])
        raise ConflictError(f'network namespace "{name}" already exists', hint="pick another name or use --exist-ok")
    plan = _ns_add_plan(ref)
    applied = _run(host, plan, opts)
    return Outcome(NamespaceView(name, ref.path), plan, applied=applied)


def _ns_add_plan(ref: NetnsRef) -> Plan:
    from cnictl.netlink.ns_steps import CreateNetns
    from cnictl.netlink.steps import SetUp

    return Plan([CreateNetns(ref.spec), SetUp("lo", ref)])


def ns_list(host: Host) -> list[NamespaceView]:
    from cnictl import netns

    return [NamespaceView(n, f"{netns.NETNS_RUN_DIR}/{n}") for n in netns.list_named()]


def ns_remove(host: Host, name: str, opts: RunOptions | None = None, *, missing_ok: bool = False) -> Outcome:
    """Remove a namespace, detaching it from every cnictl network first (nothing left half-done)."""
    opts = opts or RunOptions()
    ref = NetnsRef.parse(name)
    if not ref.exists():
        if missing_ok:
            return Outcome(Removed(name, False), Plan(), [f'network namespace "{name}" was already gone'])
        raise NetnsNotFoundError(f'network namespace "{name}" not found', hint=f"see: {cli('ns ls')}")
    plan, detached = _ns_remove_plan(host, Store(host.paths), ref)
    if opts.dry_run:
        return Outcome(Removed(name, False, detached), plan)
    errors = plan.teardown(host, echo=opts.echo)
    if errors:
        raise CnictlError(f'namespace "{name}" was only partly removed: ' + "; ".join(errors))
    return Outcome(Removed(name, True, detached), plan, applied=True)


def _ns_remove_plan(host: Host, store: Store, ref: NetnsRef) -> tuple[Plan, list[str]]:
    """Detach the namespace from every cnictl network, remove it, forget the direct links that went with it;
    and the "network/ifname" of each attachment detached."""
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.netlink.ns_steps import RemoveNetns
    from cnictl.ops.links import ForgetLinks, LinkStore

    plan = Plan()
    detached = []
    for net in store.networks():
        for att in store.attachments(net.name):
            if att.netns_key == ref.key:
                plan.extend(_detach_plan(host, store, net, att, HostLocalStore(host.paths.ipam_root / net.name)))
                detached.append(f"{net.name}/{att.ifname}")
    plan.add(RemoveNetns(ref.spec))
    links = LinkStore(host.paths.state_dir)
    gone = [r for r in links.records() if ref.key in (r.netns_key1, r.netns_key2)]
    if gone:  # a veth pair goes with either of its namespaces: its record goes too
        plan.add(ForgetLinks(links, gone, f"forget {len(gone)} link(s) of {ref.spec}"))
    return plan, detached


def ns_exec(name: str, argv: list[str]) -> None:
    """Replace this process with *argv* running inside the namespace (does not return)."""
    from cnictl.netns import setns_fd

    if not argv:
        raise ConfigError("no command given", hint=f"example: {cli(f'ns exec {name} -- ip addr')}")
    ref = NetnsRef.parse(name)
    fd = ref.open()
    setns_fd(fd)
    os.close(fd)
    try:
        os.execvp(argv[0], argv)
    except FileNotFoundError:
        raise NotFoundError(f'command "{argv[0]}" not found in PATH', hint="install it or give its full path") from None
