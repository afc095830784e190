"""Primitive netlink Steps: each is one rtnetlink request, explains itself as an `ip` command and undoes itself.

    >>> AddBridge("br-lab", mtu=1500).summary
    'create bridge br-lab'
"""

from __future__ import annotations

import _socket  # socket's names without its enum wrappers (socket imports enum: start-up time)
import errno
import ipaddress

from cnictl.errors import ConflictError, KernelError, NotFoundError, cli
from cnictl.plan import Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.host import Host
    from cnictl.ipam.steps import ReserveIP
    from cnictl.netlink.child_steps import AddChild
    from cnictl.netns import NetnsRef


def _spec(ns: NetnsRef | None) -> str | None:
    return ns.spec if ns is not None else None


def _ref(spec: str | None) -> NetnsRef | None:
    from cnictl.netns import NetnsRef

    return NetnsRef.parse(spec) if spec else None


def _ip(host: Host, ns: NetnsRef | None) -> str:
    return ns.ip_prefix() if ns is not None else host.ip_cmd()


class AddBridge(Step):
    """A bridge with a fixed MAC address, so it does not change MAC as ports come and go."""

    def __init__(self, name: str, mtu: int | None = None, mac: str | None = None) -> None:
        self.name, self.mtu, self.mac = name, mtu, mac
        self.summary = f"create bridge {name}"
        self.created = False

    def apply(self, host: Host) -> None:
        host.nl().add_bridge(self.name, self.mtu, self.mac)
        self.created = True

    def undo(self, host: Host) -> None:
        if self.created:
            host.nl().del_link(self.name)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name, "mtu": self.mtu, "mac": self.mac}  # net create checked that it was new

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> AddBridge:
        step = cls(data["name"], data["mtu"], data["mac"])
        step.created = True
        return step

    def explain(self, host: Host) -> list[str]:
        mtu = f" mtu {self.mtu}" if self.mtu else ""
        mac = f" address {self.mac}" if self.mac else ""
        return [f"{host.ip_cmd()} link add {self.name}{mtu}{mac} type bridge"]


class AddVeth(Step):
    """A veth pair whose container end is created directly inside the target namespace.

    The host end is enslaved and brought up in the same request (one netlink round trip).
    """

    def __init__(
        self, name: str, peer: str, netns: NetnsRef, *, master: str | None, mtu: int | None, peer_mac: str | None
    ) -> None:
        self.name, self.peer, self.netns = name, peer, netns
        self.master, self.mtu, self.peer_mac = master, mtu, peer_mac
        self.summary = f"create veth {name} with peer {peer} in {netns.spec}"
        self.created = False
        self.peer_index: int | None = None

    def apply(self, host: Host) -> None:
        # Sent as a raw rtnetlink request (see cnictl.netlink.rtnl): the attach hot path then needs no
        # pyroute2 socket at all, and the echoed answer names the peer's ifindex in its namespace.
        from cnictl.netlink.rtnl import Batch

        master = None
        if self.master:
            try:
                master = _socket.if_nametoindex(self.master)
            except OSError:
                raise NotFoundError(f"bridge {self.master} not found in this host",
                                    hint=f"recreate the network ({cli('net rm NAME --force')}, then net create)") from None
        batch = Batch()
        batch.add_veth(self.name, self.peer, host.netns_fd(self.netns), self.explain(host)[0], master=master,
                       mtu=self.mtu, peer_mac=self.peer_mac, up=True)
        (code,) = batch.send(host.raw_socket(None))
        if code:
            raise batch.error(0, code, kind="veth")
        self.created = True
        self.peer_index = batch.links.get(self.name, (0, None))[1]

    def undo(self, host: Host) -> None:
        if self.created:
            host.nl().del_link(self.name)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name, "peer": self.peer, "netns": self.netns.spec, "master": self.master,
                "mtu": self.mtu, "peer_mac": self.peer_mac}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> AddVeth:
        from cnictl.netns import NetnsRef

        step = cls(data["name"], data["peer"], NetnsRef.parse(data["netns"]), master=data["master"], mtu=data["mtu"],
                   peer_mac=data["peer_mac"])
        step.created = True  # (cut short, it may exist: the name was free when the plan began)
        return step

    def explain(self, host: Host) -> list[str]:
        mtu = f" mtu {self.mtu}" if self.mtu else ""
        master = f" master {self.master}" if self.master else ""
        target = f"netns {self.netns.name}" if self.netns.name else f"netns {self.netns.path}"
        mac = f" address {self.peer_mac}" if self.peer_mac else ""
        return [
            f"{host.ip_cmd()} link add {self.name}{mtu}{master} type veth peer name {self.peer} {target}{mtu}{mac}",
            f"{host.ip_cmd()} link set {self.name} up",
        ]


class SetUp(Step):
    def __init__(self, name: str, netns: NetnsRef | None = None, *, fresh: bool = True) -> None:
        self.name, self.netns, self.fresh = name, netns, fresh
        where = f" in {netns.spec}" if netns is not None else ""
        self.summary = f"set {name} up{where}"
        self.was_up: bool | None = None

    def apply(self, host: Host) -> None:
        nl = host.nl_for(self.netns)
        if not self.fresh:
            self.was_up = any(link["up"] for link in nl.links() if link["ifname"] == self.name)
        nl.set_up(self.name)

    def undo(self, host: Host) -> None:
        # A fresh link goes away with the step that created it; an existing one goes back down.
        if not self.fresh and self.was_up is False:
            nl = host.nl_for(self.netns)
            if nl.link_index(self.name) is not None:
                nl.set_up(self.name, False)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name, "netns": _spec(self.netns), "fresh": self.fresh}

    def journal_out(self) -> dict[str, Any] | None:
        return None if self.fresh else {"was_up": self.was_up}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> SetUp:
        step = cls(data["name"], _ref(data["netns"]), fresh=data["fresh"])
        if out is not None:
            step.was_up = out.get("was_up")
        return step

    def explain(self, host: Host) -> list[str]:
        return [f"{_ip(host, self.netns)} link set {self.name} up"]


class AddAddr(Step):
    def __init__(self, name: str, cidr: str, netns: NetnsRef | None = None) -> None:
        self.name, self.cidr, self.netns = name, cidr, netns
        where = f" in {netns.spec}" if netns is not None else ""
        self.summary = f"add address {cidr} to {name}{where}"
        self.added = False
        self.v6 = ipaddress.ip_interface(cidr).version == 6

    def apply(self, host: Host) -> None:
        nl = host.nl_for(self.netns)
        try:
            nl.add_addr(self.name, self.cidr, nodad=self.v6)
        except ConflictError:
            # already there (an unmanaged bridge that has the gateway): nothing to undo
            return
        self.added = True

    def undo(self, host: Host) -> None:
        if self.added:
            host.nl_for(self.netns).del_addr(self.name, self.cidr)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name, "cidr": self.cidr, "netns": _spec(self.netns)}

    def journal_out(self) -> dict[str, Any]:
        return {"added": self.added}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> AddAddr:
        step = cls(data["name"], data["cidr"], _ref(data["netns"]))
        step.added = bool(out and out.get("added"))  # cut short: it may have been there before, so it stays
        return step

    def explain(self, host: Host) -> list[str]:
        nodad = " nodad" if self.v6 else ""
        return [f"{_ip(host, self.netns)} addr add {self.cidr} dev {self.name}{nodad}"]


class SetHairpin(Step):
    """Hairpin mode on a bridge port, so a container can reach its own published port through the host."""

    def __init__(self, name: str, on: bool = True, *, was: bool | None = None) -> None:
        self.name, self.on, self.was = name, on, was
        self.summary = f"set hairpin {'on' if on else 'off'} on {name}"
        self.changed = False

    def _set(self, host: Host, on: bool) -> None:
        from cnictl.netlink.rtnl import Batch

        batch = Batch()
        batch.set_hairpin(self.name, on, f"{host.ip_cmd()} link set {self.name} type bridge_slave hairpin "
                                         f"{'on' if on else 'off'}")
        (code,) = batch.send(host.raw_socket(None))
        if code not in (0, errno.ENODEV):
            raise batch.error(0, code)

    def apply(self, host: Host) -> None:
        self._set(host, self.on)
        self.changed = True

    def undo(self, host: Host) -> None:
        if self.changed and self.was is not None and self.was != self.on:
            self._set(host, self.was)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name, "on": self.on, "was": self.was}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> SetHairpin:
        step = cls(data["name"], data["on"], was=data["was"])
        step.changed = True  # undo writes back what it was before the plan: right whether or not it ran
        return step

    def explain(self, host: Host) -> list[str]:
        return [f"{host.ip_cmd()} link set {self.name} type bridge_slave hairpin {'on' if self.on else 'off'}"]


class IsolatePort(Step):
    """Bridge port isolation: isolated ports reach the bridge (the host, the gateway) but not each other."""

    journaled = False  # a setting of the new veth: it goes with it

    def __init__(self, name: str) -> None:
        self.name = name
        self.summary = f"isolate bridge port {name}"

    def apply(self, host: Host) -> None:
        from cnictl.netlink.rtnl import IFLA_BRPORT_ISOLATED, Batch

        batch = Batch()
        batch.set_brport(self.name, {IFLA_BRPORT_ISOLATED: True}, self.explain(host)[0])
        (code,) = batch.send(host.raw_socket(None))
        if code:
            raise batch.error(0, code)

    def explain(self, host: Host) -> list[str]:
        return [f"{host.ip_cmd()} link set {self.name} type bridge_slave isolated on"]


class DelLink(Step):
    """Teardown: delete a link (and with a veth, its peer); already gone is fine."""

    def __init__(self, name: str, netns: NetnsRef | None = None) -> None:
        self.name, self.netns = name, netns
        self.summary = f"delete {name}"

    def apply(self, host: Host) -> None:
        if self.netns is not None:
            host.nl_for(self.netns).del_link(self.name)
            return
        # the host's own link: one raw request, so `detach` needs no pyroute2 socket
        from cnictl.netlink.rtnl import Batch

        batch = Batch()
        batch.del_link(self.name, self.explain(host)[0])
        (code,) = batch.send(host.raw_socket(None))
        if code not in (0, errno.ENODEV):
            raise batch.error(0, code)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name, "netns": _spec(self.netns)}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> DelLink:
        return cls(data["name"], _ref(data["netns"]))

    def explain(self, host: Host) -> list[str]:
        return [f"{_ip(host, self.netns)} link del {self.name}"]


class DelAddr(Step):
    def __init__(self, name: str, cidr: str) -> None:
        self.name, self.cidr = name, cidr
        self.summary = f"remove address {cidr} from {name}"

    def apply(self, host: Host) -> None:
        host.nl().del_addr(self.name, self.cidr)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name, "cidr": self.cidr}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> DelAddr:
        return cls(data["name"], data["cidr"])

    def explain(self, host: Host) -> list[str]:
        return [f"{host.ip_cmd()} addr del {self.cidr} dev {self.name}"]


class AddVethPair(Step):
    """A veth pair between two namespaces: one RTM_NEWLINK sent from a socket inside the first one, with the
    peer born directly in the second (no move, so no RCU grace period to wait for).

    Neither end is brought up here: addresses and `up` follow, one batch per side. The kernel's echoed answer
    gives both ifindexes (`index` in the first namespace, `peer_index` in the second), so those batches need no
    lookup. Undo deletes the first end; the peer goes with it.
    """

    def __init__(self, name: str, netns: NetnsRef, peer: str, peer_netns: NetnsRef, *, mtu: int | None = None) -> None:
        self.name, self.netns, self.peer, self.peer_netns, self.mtu = name, netns, peer, peer_netns, mtu
        self.summary = f"create veth {netns.spec}:{name} with peer {peer_netns.spec}:{peer}"
        self.created = False
        self.index: int | None = None
        self.peer_index: int | None = None

    def apply(self, host: Host) -> None:
        from cnictl.netlink.rtnl import Batch

        batch = Batch()
        batch.add_veth(self.name, self.peer, host.netns_fd(self.peer_netns), self.explain(host)[0], mtu=self.mtu)
        sock = host.raw_socket(self.netns)  # opened inside the first namespace, closed right after
        try:
            (code,) = batch.send(sock)
        finally:
            sock.close()
        if code:
            raise batch.error(0, code, kind="veth")
        self.created = True
        self.index, self.peer_index = batch.links.get(self.name, (None, None))

    def undo(self, host: Host) -> None:
        if not self.created:
            return
        from cnictl.netlink.rtnl import Batch

        batch = Batch()
        batch.del_link(self.name, f"{self.netns.ip_prefix()} link del {self.name}")
        sock = host.raw_socket(self.netns)
        try:
            (code,) = batch.send(sock)
        finally:
            sock.close()
        if code not in (0, errno.ENODEV):
            raise batch.error(0, code)
        self.created = False

    def journal(self) -> dict[str, Any]:
        return {"name": self.name, "netns": self.netns.spec, "peer": self.peer, "peer_netns": self.peer_netns.spec,
                "mtu": self.mtu}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> AddVethPair:
        from cnictl.netns import NetnsRef

        step = cls(data["name"], NetnsRef.parse(data["netns"]), data["peer"], NetnsRef.parse(data["peer_netns"]),
                   mtu=data["mtu"])
        step.created = True  # (cut short, it may exist: link add checked the names were free)
        return step

    def explain(self, host: Host) -> list[str]:
        mtu = f" mtu {self.mtu}" if self.mtu else ""
        target = self.peer_netns.name or self.peer_netns.path  # ip opens a netns argument with a "/" as a path
        return [f"{self.netns.ip_prefix()} link add {self.name}{mtu} type veth peer name {self.peer} netns {target}{mtu}"]


class ConfigureEnd(Step):
    """One end of a new pair (AddVethPair): its addresses, then up, in one netlink batch sent inside its namespace.

    The ifindex comes from the kernel's answer to the pair's creation. Undo is the pair's deletion.
    """

    journaled = False

    def __init__(self, pair: AddVethPair, side: int, netns: NetnsRef, ifname: str, addresses: list[str]) -> None:
        self.pair, self.side, self.netns, self.ifname, self.addresses = pair, side, netns, ifname, addresses
        what = f"addresses {', '.join(addresses)}, " if addresses else ""
        self.summary = f"configure {netns.spec}:{ifname}: {what}up"

    def _lines(self) -> list[str]:
        ip = self.netns.ip_prefix()
        out = [f"{ip} addr add {c} dev {self.ifname}{' nodad' if ':' in c else ''}" for c in self.addresses]
        return out + [f"{ip} link set {self.ifname} up"]

    def apply(self, host: Host) -> None:
        from cnictl.netlink.rtnl import Batch

        index = self.pair.index if self.side == 1 else self.pair.peer_index
        if not index:
            index = _index_in(host, self.netns, self.ifname)
        lines = self._lines()
        batch = Batch()
        for cidr, text in zip(self.addresses, lines, strict=False):
            batch.add_addr(index, cidr, text)
        batch.set_up(index, lines[-1])
        sock = host.raw_socket(self.netns)
        try:
            codes = batch.send(sock)
        finally:
            sock.close()
        for i, code in enumerate(codes):
            if code:
                raise batch.error(i, code)

    def explain(self, host: Host) -> list[str]:
        return self._lines()


def _index_in(host: Host, ref: NetnsRef, ifname: str) -> int:
    """The ifindex of *ifname* inside *ref* (visiting the namespace: one ioctl, no netlink socket)."""
    from cnictl.netns import entered

    with entered(host.netns_fd(ref), host.home_fd()):
        try:
            return _socket.if_nametoindex(ifname)
        except OSError:
            raise KernelError(f'interface "{ifname}" vanished from {ref.spec} while it was being configured') from None


class ConfigureInterface(Step):
    """Inside the namespace: the reserved addresses, link up, default routes, sent as one netlink batch.

    The interface's index comes from the kernel's answer to the veth creation. A namespace that already
    has a default route keeps it (its first network's, as docker does). Undo is the veth's deletion.
    """

    journaled = False

    def __init__(self, veth: AddVeth | AddChild, reserve: ReserveIP, ifname: str, netns: NetnsRef, gateways: list[str]) -> None:
        self.veth, self.reserve, self.ifname, self.netns, self.gateways = veth, reserve, ifname, netns, gateways
        self.summary = f"configure {ifname} in {netns.spec}: addresses, up, default route"
        self.skipped_routes: list[str] = []

    def _lines(self) -> list[tuple[str, str]]:
        ip = self.netns.ip_prefix()
        out = []
        for lease in self.reserve.leases:
            nodad = " nodad" if lease.ip.version == 6 else ""
            out.append(("addr", f"{ip} addr add {lease.cidr} dev {self.ifname}{nodad}"))
        out.append(("up", f"{ip} link set {self.ifname} up"))
        for gw in self.gateways:
            fam = ip.replace("ip", "ip -6", 1) if ":" in gw else ip
            out.append(("route", f"{fam} route add default via {gw} dev {self.ifname}"))
        return out

    def apply(self, host: Host) -> None:
        from cnictl.netlink.rtnl import link_index

        sock = host.raw_socket(self.netns)
        try:
            index = self.veth.peer_index or link_index(sock, self.ifname)
            if index is None:
                raise NotFoundError(f"interface {self.ifname} vanished from {self.netns.spec} while it was configured")
            codes = self._send(sock, index)
        finally:
            sock.close()
        lines = self._lines()
        for i, code in enumerate(codes):
            if code == 0:
                continue
            if lines[i][0] == "route" and code == errno.EEXIST:
                self.skipped_routes.append(lines[i][1])
                continue
            raise self._batch.error(i, code)

    def _send(self, sock: _socket.socket, index: int) -> list[int]:
        from cnictl.netlink.rtnl import Batch

        batch = self._batch = Batch()
        lines = self._lines()
        leases = iter(self.reserve.leases)
        gateways = iter(self.gateways)
        for kind, text in lines:
            if kind == "addr":
                batch.add_addr(index, next(leases).cidr, text)
            elif kind == "up":
                batch.set_up(index, text)
            else:
                batch.add_default_route(next(gateways), index, text)
        return batch.send(sock)

    def explain(self, host: Host) -> list[str]:
        return [text for _, text in self._lines()]
