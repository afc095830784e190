"""Delegated IPAM for the `cnictl` plugin: run the `ipam.type` plugin found in CNI_PATH, as the reference plugins do.

The delegate gets the *same* stdin bytes and the same environment except `CNI_COMMAND`; its stderr is
passed through; its error object is raised again with its own code (SPEC.md section 4, libcni
`invoke.DelegateAdd`). Finding and running it is `cni.exec` (shared with the runtime): a type that names a
path is refused before anything runs, and a delegate that is not in CNI_PATH is code 50.

`DelegatedIPAM` is the Step that `ops.attach` runs in place of `steps.ReserveIP`: its apply is the
IPAM ADD (the result's `ips` become the leases), its undo the IPAM DEL, so a failed attach gives the
addresses back (CHECKLIST 20).
"""

from __future__ import annotations

import ipaddress
import json

from cnictl.cni import types as T
from cnictl.cni.exec import find, run
from cnictl.errors import CniError
from cnictl.ipam.steps import ReserveIP

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from cnictl.host import Host

TIMEOUT = 60.0


def execute(kind: str, command: str, env: Mapping[str, str], stdin: bytes) -> dict[str, Any] | None:
    """Run the delegate with CNI_COMMAND=*command*; its result object (ADD), None (other verbs), or CniError."""
    path = find(kind, env.get("CNI_PATH", ""))
    child_env = dict(env)
    child_env["CNI_COMMAND"] = command
    try:
        out = run(path, stdin, child_env, timeout=TIMEOUT).strip()
    except CniError as e:
        if e.cni_code == T.TRY_AGAIN_LATER and e.msg.endswith("timed out"):
            raise CniError(T.TRY_AGAIN_LATER, f"IPAM plugin {kind} timed out", f"{command} took over {TIMEOUT:g}s") from None
        if e.cni_code == T.UNKNOWN:  # no error object we could read: the delegate failed, we cannot say how
            raise CniError(T.INTERNAL, f"IPAM plugin {kind} failed ({command})", e.message[:500]) from None
        raise
    if command != "ADD":
        return None
    try:
        result = json.loads(out)
    except (ValueError, RecursionError):
        text = out.decode("utf-8", "replace")[:500]
        raise CniError(T.DECODING_FAILURE, f"IPAM plugin {kind} printed no result", text) from None
    if not isinstance(result, dict):
        raise CniError(T.DECODING_FAILURE, f"IPAM plugin {kind} printed no result object")
    return result


class DelegatedIPAM(ReserveIP):
    """Addresses from a delegated IPAM plugin: apply = IPAM ADD, undo = IPAM DEL (the store's own files untouched)."""

    def __init__(self, inner: ReserveIP, kind: str, env: Mapping[str, str], stdin: bytes) -> None:
        super().__init__(inner.store, inner.ranges, inner.container_id, inner.ifname, [], [])
        self.kind, self.env, self.stdin = kind, dict(env), stdin
        self.result: dict[str, Any] = {}
        self.added = False
        self.summary = f"IPAM ADD through the {kind} plugin for {inner.container_id}/{inner.ifname}"

    def apply(self, host: Host) -> None:
        from cnictl.ipam.allocator import Lease

        raw = execute(self.kind, "ADD", self.env, self.stdin)
        self.added = True
        self.result = T.normalise_result(raw)
        leases = []
        for i, ip in enumerate(self.result.get("ips", [])):
            iface = ipaddress.ip_interface(ip["address"])
            gw = ipaddress.ip_address(ip["gateway"]) if ip.get("gateway") else None
            leases.append(Lease(ip=iface.ip, prefixlen=iface.network.prefixlen, gateway=gw, range_index=i))
        if not leases:
            raise CniError(T.INVALID_CONFIG, f"IPAM plugin {self.kind} returned no IP addresses")
        self.leases = leases

    def undo(self, host: Host) -> None:
        if self.added:
            execute(self.kind, "DEL", self.env, self.stdin)
            self.added = False

    def journal(self) -> dict[str, Any]:
        base = super().journal()
        base.update(kind=self.kind, env=self.env, stdin=self.stdin.decode("utf-8", "surrogateescape"))
        return base

    def journal_out(self) -> dict[str, Any]:
        return {}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> DelegatedIPAM:
        inner = ReserveIP.resume(host, data, None)
        step = cls(inner, data["kind"], data["env"], data["stdin"].encode("utf-8", "surrogateescape"))
        step.added = True  # IPAM DEL of what was never added is a success (CNI spec)
        return step

    def explain(self, host: Host) -> list[str]:
        return [f"# IPAM: CNI_COMMAND=ADD {self.kind} < (the same network configuration)"]
