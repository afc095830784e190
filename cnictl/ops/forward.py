"""IP forwarding: `forward enable/disable` (the all.forwarding sysctls, optionally persisted under sysctl.d)
and `forward status` per interface. Port forwarding is `cnictl port` (cnictl.ops.ports).

    >>> from cnictl.host import Host
    >>> with Host(netns="h1", state_dir="/tmp/s") as host:                # doctest: +SKIP
    ...     forward_set(host, True, ipv6=True).result["changed"]
"""

from __future__ import annotations

from cnictl.errors import CnictlError
from cnictl.host import Host
from cnictl.ops.runner import Outcome, RunOptions, _run
from cnictl.plan import Plan

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from cnictl.ops.requests import ForwardView

FWD_V4 = "net.ipv4.conf.all.forwarding"
FWD_V6 = "net.ipv6.conf.all.forwarding"


def forward_set(host: Host, enable: bool, *, ipv6: bool = False, persist: bool = False,
                opts: RunOptions | None = None) -> Outcome:
    opts = opts or RunOptions()
    from cnictl.sysctl import PersistSysctls, WriteSysctl

    value = "1" if enable else "0"
    keys = [FWD_V4] + ([FWD_V6] if ipv6 else [])
    plan = Plan([WriteSysctl(k, value, restore=True) for k in keys])
    conf = host.paths.sysctl_dir / "90-cnictl-forward.conf"
    if persist:
        plan.add(PersistSysctls(conf, {k: value for k in keys}))
    applied = _run(host, plan, opts)
    changed = [s.key for s in plan.steps if isinstance(s, WriteSysctl) and s.changed]
    from cnictl.ops.requests import ForwardSet

    result = ForwardSet({k: value for k in keys}, changed, str(conf) if persist else None)
    return Outcome(result, plan, applied=applied)


def forward_status(host: Host, *, ipv6: bool = False) -> list[ForwardView]:
    from cnictl import sysctl
    from cnictl.ops.requests import ForwardView

    names = ["all", "default"] + sorted(str(link["ifname"]) for link in host.nl().links())
    rows = []
    for name in names:
        row = ForwardView(name)
        for fam, enabled in (("ipv4", True), ("ipv6", ipv6)):
            if not enabled:
                continue
            try:
                row.families[fam] = sysctl.read(f"net.{fam}.conf.{name}.forwarding") == "1"
            except CnictlError:
                row.families[fam] = None
        rows.append(row)
    return rows
