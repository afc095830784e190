"""Netlink client: one rtnetlink socket bound to one network namespace, with kernel errors translated.

The socket is opened in-process: the thread enters the target namespace, opens the socket and
comes back (no helper process). Every failure becomes a KernelError whose message is the
equivalent `ip` command and the errno, e.g. `ip link add br0 type bridge: File exists (EEXIST)`.

    >>> with Netlink() as nl:           # doctest: +SKIP
    ...     nl.link_index("lo")
    1
"""

from __future__ import annotations

import errno as errno_mod
import ipaddress
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cnictl.errors import ConflictError, KernelError, NotFoundError
from cnictl.netlink import load
from cnictl.netlink.rtnl import missing_kind
from cnictl.netns import entered

_MODE_NAMES: dict[str, dict[Any, str]] = {
    "macvlan": {1: "private", 2: "vepa", 4: "bridge", 8: "passthru", 16: "source",
                "private": "private", "vepa": "vepa", "bridge": "bridge", "passthru": "passthru", "source": "source"},
    "ipvlan": {0: "l2", 1: "l3", 2: "l3s"},
}


def _errno_name(code: int) -> str:
    return errno_mod.errorcode.get(code, str(code))


class Netlink:
    """An rtnetlink socket in the current namespace, or in the namespace at *netns_path*."""

    def __init__(self, netns_path: str | int | None = None, home: int | None = None) -> None:
        IPRoute, self._NetlinkError = load()
        # groups=0: no multicast subscription. cnictl only asks and changes; receiving every link,
        # address and route event of the namespace would make each request parse unrelated messages.
        if netns_path is None:
            self._ipr = IPRoute(groups=0)
        else:
            with entered(netns_path, home):
                self._ipr = IPRoute(groups=0)
        self._index: dict[str, int] = {}

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._ipr.close()

    @contextmanager
    def _op(self, text: str, *, kind: str | None = None) -> Iterator[None]:
        try:
            yield
        except self._NetlinkError as e:
            code = int(getattr(e, "code", 0) or 0)
            if kind and code == errno_mod.EOPNOTSUPP:
                raise missing_kind(text, kind) from None
            if code == errno_mod.EEXIST:
                raise ConflictError(f"{text}: File exists (EEXIST)") from None
            raise KernelError(f"{text}: {os.strerror(code)} ({_errno_name(code)})", errno=code) from None

    # ---- reads -------------------------------------------------------------------------
    def link_index(self, name: str, *, cached: bool = True) -> int | None:
        idx = self._index.get(name) if cached else None
        if idx is not None:
            return idx
        with self._op(f"ip link show {name}"):
            found = self._ipr.link_lookup(ifname=name)
        if not found:
            return None
        self._index[name] = found[0]
        return int(found[0])

    def require_index(self, name: str) -> int:
        idx = self.link_index(name)
        if idx is None:
            raise NotFoundError(f'interface "{name}" not found')
        return idx

    def links(self) -> list[dict[str, Any]]:
        out = []
        with self._op("ip link show"):
            msgs = list(self._ipr.get_links())
        for m in msgs:
            info = m.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
            mode = None
            if kind in ("macvlan", "ipvlan") and info is not None:
                data = info.get_attr("IFLA_INFO_DATA")
                raw = data.get_attr("IFLA_MACVLAN_MODE" if kind == "macvlan" else "IFLA_IPVLAN_MODE") if data else None
                mode = _MODE_NAMES[kind].get(raw, str(raw)) if raw is not None else None
            out.append(
                {
                    "index": m["index"],
                    "ifname": m.get_attr("IFLA_IFNAME"),
                    "kind": kind,
                    "master": m.get_attr("IFLA_MASTER"),
                    "mtu": m.get_attr("IFLA_MTU"),
                    "mac": m.get_attr("IFLA_ADDRESS"),
                    "up": bool(m["flags"] & 1),
                    # the lower device of a macvlan/ipvlan/vlan/veth (an index in link_netns when that is set)
                    "link": m.get_attr("IFLA_LINK"),
                    "link_netns": m.get_attr("IFLA_LINK_NETNSID"),
                    "mode": mode,
                    "slave_kind": info.get_attr("IFLA_INFO_SLAVE_KIND") if info is not None else None,
                }
            )
        return out

    def link_kind(self, name: str) -> str | None:
        for link in self.links():
            if link["ifname"] == name:
                return link["kind"]
        return None

    def ports(self, master_index: int) -> list[str]:
        return [str(link["ifname"]) for link in self.links() if link["master"] == master_index]

    def addresses(self, name: str | None = None) -> list[tuple[str, str]]:
        """(ifname, cidr) pairs."""
        names = {link["index"]: link["ifname"] for link in self.links()}
        with self._op("ip addr show"):
            msgs = list(self._ipr.get_addr())
        out = []
        for m in msgs:
            ifname = names.get(m["index"], str(m["index"]))
            if name is not None and ifname != name:
                continue
            out.append((ifname, f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}"))
        return out

    def route_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Destinations of every route in the main table (default routes excluded)."""
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for family in (socket.AF_INET, socket.AF_INET6):
            with self._op("ip route show"):
                msgs = list(self._ipr.get_routes(family=family, table=254))
            for m in msgs:
                dst = m.get_attr("RTA_DST")
                if dst is None or m["dst_len"] == 0:
                    continue
                try:
                    nets.append(ipaddress.ip_network(f"{dst}/{m['dst_len']}", strict=False))
                except ValueError:
                    continue
        return nets

    # ---- changes -----------------------------------------------------------------------
    def add_bridge(self, name: str, mtu: int | None = None, mac: str | None = None) -> None:
        kw: dict[str, Any] = {"ifname": name, "kind": "bridge"}
        if mtu:
            kw["mtu"] = mtu
        if mac:
            kw["address"] = mac
        with self._op(f"ip link add {name} type bridge", kind="bridge"):
            self._ipr.link("add", **kw)

    def del_link(self, name: str) -> bool:
        """Delete a link; False if it was already gone."""
        idx = self.link_index(name)
        self._index.pop(name, None)
        if idx is None:
            return False
        try:
            with self._op(f"ip link del {name}"):
                self._ipr.link("del", index=idx)
        except KernelError as e:
            if e.errno == errno_mod.ENODEV:
                return False
            raise
        return True

    def set_up(self, name: str, up: bool = True) -> None:
        idx = self.require_index(name)
        with self._op(f"ip link set {name} {'up' if up else 'down'}"):
            self._ipr.link("set", index=idx, state="up" if up else "down")

    def add_addr(self, name: str, cidr: str, *, nodad: bool = False) -> None:
        idx = self.require_index(name)
        iface = ipaddress.ip_interface(cidr)
        kw: dict[str, Any] = {"index": idx, "address": str(iface.ip), "prefixlen": iface.network.prefixlen}
        if iface.version == 6 and nodad:
            kw["flags"] = 0x02  # IFA_F_NODAD
        with self._op(f"ip addr add {cidr} dev {name}"):
            self._ipr.addr("add", **kw)

    def del_addr(self, name: str, cidr: str) -> bool:
        idx = self.link_index(name)
        if idx is None:
            return False
        iface = ipaddress.ip_interface(cidr)
        try:
            with self._op(f"ip addr del {cidr} dev {name}"):
                self._ipr.addr("del", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        except KernelError as e:
            if e.errno in (errno_mod.EADDRNOTAVAIL, errno_mod.ENODEV, errno_mod.ENOENT):
                return False
            raise
        return True
