"""Delegated IPAM for the `cnictl` plugin: run the `ipam.type` plugin found in CNI_PATH, as the reference plugins do.

The delegate gets the *same* stdin bytes and the same environment except `CNI_COMMAND`; its stderr is
passed through; its error object is raised again with its own code (SPEC.md section 4, libcni
`invoke.DelegateAdd`). A type that names a path is refused before anything runs (CVE-2021-20206).

`DelegatedIPAM` is the Step that `ops.attach` runs in place of `steps.ReserveIP`: its apply is the
IPAM ADD (the result's `ips` become the leases), its undo the IPAM DEL, so a failed attach gives the
addresses back (CHECKLIST 20).

    >>> find("host-local", "/nonexistent")
    Traceback (most recent call last):
    ...
    cnictl.errors.CniError: failed to find plugin "host-local" in path [/nonexistent]
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cnictl.cni import types as T
from cnictl.errors import CniError
from cnictl.steps import ReserveIP

if TYPE_CHECKING:
    from cnictl.host import Host

TIMEOUT = 60.0


def find(kind: str, cni_path: str) -> str:
    """The first regular file named *kind* in the `:`-separated *cni_path* (code 50 when there is none)."""
    T.validate_plugin_type(kind)
    dirs = [d for d in cni_path.split(":") if d]
    for d in dirs:
        path = os.path.join(d, kind)
        if os.path.isfile(path):
            return path
    raise CniError(T.PLUGIN_NOT_AVAILABLE, f'failed to find plugin "{kind}" in path [{" ".join(dirs)}]')


def execute(kind: str, command: str, env: Mapping[str, str], stdin: bytes) -> dict[str, Any] | None:
    """Run the delegate with CNI_COMMAND=*command*; its result object (ADD), None (other verbs), or CniError."""
    path = find(kind, env.get("CNI_PATH", ""))
    child_env = dict(env)
    child_env["CNI_COMMAND"] = command
    try:
        proc = subprocess.run([path], input=stdin, env=child_env, stdout=subprocess.PIPE, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise CniError(T.TRY_AGAIN_LATER, f"IPAM plugin {kind} timed out", f"{command} took over {TIMEOUT:g}s") from None
    except OSError as e:
        raise CniError(T.PLUGIN_NOT_AVAILABLE, f"failed to run IPAM plugin {kind}", str(e)) from None
    out = proc.stdout.strip()
    if proc.returncode != 0:
        try:
            err = json.loads(out)
            code, msg = int(err["code"]), str(err["msg"])
            details = str(err.get("details") or "")
        except (ValueError, TypeError, KeyError, RecursionError):
            raise CniError(T.INTERNAL, f"IPAM plugin {kind} failed ({command})",
                           out.decode("utf-8", "replace")[:500] or f"exit status {proc.returncode}") from None
        raise CniError(code if code >= 0 else T.INTERNAL, msg, details)
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

    def explain(self, host: Host) -> list[str]:
        return [f"# IPAM: CNI_COMMAND=ADD {self.kind} < (the same network configuration)"]
