"""Address ranges and leases: validation, capacity and round-robin candidate order, host-local semantics.

Pure logic (stdlib only, no I/O). A `Range` mirrors one host-local range: the defaults are the
reference plugin's (gateway = network+1, start = network+1 with the gateway skipped, end =
broadcast-1 for IPv4 and the last address for IPv6), and `iter_from` yields candidates in the
same round-robin order host-local uses, so both tools agree on "the next address".

    >>> r = Range.build("10.20.0.0/29")
    >>> str(r.gateway), str(r.range_start), str(r.range_end), r.capacity()
    ('10.20.0.1', '10.20.0.1', '10.20.0.6', 5)
    >>> [str(ip) for ip in r.iter_from(ipaddress.ip_address("10.20.0.5"))]
    ['10.20.0.6', '10.20.0.2', '10.20.0.3', '10.20.0.4', '10.20.0.5']
"""

from __future__ import annotations

import ipaddress

from cnictl.errors import ConfigError
from cnictl.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterator

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Longest prefix host-local accepts per IP version (anything longer is "too small to allocate from").
MAX_PREFIXLEN = {4: 30, 6: 126}

__all__ = ["MAX_PREFIXLEN", "IPAddress", "IPNetwork", "Lease", "Range", "parse_ip"]


def parse_ip(value: str | IPAddress, what: str = "IP address") -> IPAddress:
    """Return `value` as an address object; ConfigError naming `what` if it is not an IP address."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    text = str(value).strip()
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        hint = "example: 10.20.0.5 or fd00:20::5"
        raise ConfigError(f'invalid {what} "{value}": not an IP address', hint=hint) from None


def _family(version: int) -> str:
    return f"IPv{version}"


def _parse_network(text: str, what: str, example: str) -> IPNetwork:
    raw = text.strip()
    bad = f'invalid {what} "{text}": not an IP network in CIDR form'
    if "/" not in raw:
        raise ConfigError(bad, hint=f"example: {example}")
    try:
        return ipaddress.ip_network(raw, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(raw, strict=False)
    except ValueError:
        raise ConfigError(bad, hint=f"example: {example}") from None
    raise ConfigError(f'{what} "{text}" has host bits set', hint=f"use {loose}")


@record(frozen=True)
class Range:
    """One allocatable range: `range_start`..`range_end` (inclusive) inside `subnet`, minus `gateway`."""

    subnet: IPNetwork
    range_start: IPAddress
    range_end: IPAddress
    gateway: IPAddress | None

    @classmethod
    def build(cls, subnet: str, gateway: str | None = None, ip_range: str | None = None) -> Range:
        """Validate user input and apply host-local's defaults; every error is a one-line ConfigError."""
        net = _parse_network(subnet, "subnet", "10.20.0.0/24")
        limit = MAX_PREFIXLEN[net.version]
        if net.prefixlen > limit:
            raise ConfigError(
                f"subnet {net} is too small to allocate from",
                hint=f"use a /{limit} or shorter prefix for {_family(net.version)}",
            )
        first_usable = int(net.network_address) + 1
        last_usable = int(net.broadcast_address) - (1 if net.version == 4 else 0)
        addr_cls = type(net.network_address)

        gw: IPAddress
        if gateway is None:
            gw = addr_cls(first_usable)
        else:
            gw = parse_ip(gateway, "gateway")
            if gw.version != net.version:
                raise ConfigError(
                    f"gateway {gw} is {_family(gw.version)} but subnet {net} is {_family(net.version)}",
                    hint="pick an address inside the subnet",
                )
            if gw not in net:
                raise ConfigError(f"gateway {gw} is outside subnet {net}", hint="pick an address inside it")
            if net.version == 4 and gw in (net.network_address, net.broadcast_address):
                kind = "network" if gw == net.network_address else "broadcast"
                raise ConfigError(
                    f"gateway {gw} is the {kind} address of subnet {net}",
                    hint=f"pick a host address such as {addr_cls(first_usable)}",
                )

        start, end = first_usable, last_usable
        if ip_range is not None:
            sub = _parse_network(ip_range, "ip range", f"{net.network_address}/{min(net.prefixlen + 1, 128)}")
            if sub.version != net.version:
                raise ConfigError(
                    f"ip range {sub} is {_family(sub.version)} but subnet {net} is {_family(net.version)}",
                    hint="pick a range inside the subnet",
                )
            inside = int(net.network_address) <= int(sub.network_address) and int(
                sub.broadcast_address
            ) <= int(net.broadcast_address)
            if not inside:
                raise ConfigError(
                    f"ip range {sub} is not inside subnet {net}",
                    hint=f"pick a range inside it: {net} itself or a longer prefix within it",
                )
            start = max(start, int(sub.network_address))
            end = min(end, int(sub.broadcast_address))
            if start > end:
                raise ConfigError(
                    f"ip range {sub} has no usable address in subnet {net}",
                    hint="use a larger range that is not only the network or broadcast address",
                )
        rng = cls(subnet=net, range_start=addr_cls(start), range_end=addr_cls(end), gateway=gw)
        if rng.capacity() == 0:
            raise ConfigError(
                f"range {rng.range_start}-{rng.range_end} of subnet {net} holds only the gateway {gw}",
                hint="use a larger ip range or another gateway",
            )
        return rng

    @property
    def version(self) -> int:
        """4 or 6."""
        return self.subnet.version

    @property
    def prefixlen(self) -> int:
        """The subnet's prefix length (the lease's /N)."""
        return self.subnet.prefixlen

    def in_subnet(self, ip: IPAddress) -> bool:
        """True if `ip` lies anywhere in the subnet (same family)."""
        return ip.version == self.version and ip in self.subnet

    def contains(self, ip: IPAddress) -> bool:
        """True if `ip` lies within range_start..range_end (same family); the gateway counts as inside."""
        return ip.version == self.version and int(self.range_start) <= int(ip) <= int(self.range_end)

    def _gateway_int(self) -> int | None:
        if self.gateway is None or not self.contains(self.gateway):
            return None
        return int(self.gateway)

    def capacity(self) -> int:
        """Number of allocatable addresses: start..end minus the gateway when it is inside."""
        size = int(self.range_end) - int(self.range_start) + 1
        return size - (1 if self._gateway_int() is not None else 0)

    def iter_from(self, after: IPAddress | None = None) -> Iterator[IPAddress]:
        """Yield every allocatable address once, round-robin from after+1 (or range_start), wrapping.

        O(1) per candidate: nothing is materialised, so a /16 or a /64 costs the same as a /30.
        """
        start, end = int(self.range_start), int(self.range_end)
        size = end - start + 1
        offset = 0
        if after is not None and self.contains(after):
            offset = (int(after) + 1 - start) % size
        gateway = self._gateway_int()
        addr_cls = type(self.range_start)
        for k in range(size):
            value = start + (offset + k) % size
            if value != gateway:
                yield addr_cls(value)

    def describe(self) -> str:
        """`10.20.0.0/24 (range 10.20.0.1-10.20.0.254, gateway 10.20.0.1)` for messages."""
        return f"{self.subnet} (range {self.range_start}-{self.range_end}, gateway {self.gateway})"


@record(frozen=True)
class Lease:
    """One reserved address: `ip`/`prefixlen` with the range's gateway, from range set `range_index`."""

    ip: IPAddress
    prefixlen: int
    gateway: IPAddress | None
    range_index: int

    @property
    def cidr(self) -> str:
        """Address with prefix, e.g. "10.20.0.2/24"."""
        return f"{self.ip}/{self.prefixlen}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: {"address": "10.20.0.2/24", "gateway": "10.20.0.1" | None, "range_index": 0}."""
        return {
            "address": self.cidr,
            "gateway": None if self.gateway is None else str(self.gateway),
            "range_index": self.range_index,
        }
