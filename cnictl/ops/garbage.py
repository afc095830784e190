"""`cnictl gc`: finish every plan a dead process left half-done, then remove what of cnictl's own no record owns.

What it removes is what cnictl's records and journals prove to be cnictl's:

- the steps of unfinished journals (torn ones too: what their readable part names), undone or completed as
  recovery does (cnictl.recovery);
- rules and set elements in cnictl's own nftables table (and CNICTL iptables chains) of networks that have no
  record (the backends' `leftovers` with their removal commands);
- IPAM reservations in cnictl's own IPAM root whose owner is provably gone (no attachment record, no CNI runtime's
  cache entry, the address live in no namespace), and directories there of networks with no record;
- host port claims whose attachment has no record.

What `doctor` also reports but cnictl has no record of making (a cni<hex> veth, a br-* bridge, a reservation in
the shared /var/lib/cni/networks that the CNI host-local plugin may have made) is kept, and listed with the
command that would remove it.

    >>> GcResult().to_json()["kept"]
    []
"""

from __future__ import annotations

from cnictl.errors import CnictlError, RollbackIncompleteError, cli
from cnictl.host import Host
from cnictl.ops.requests import View
from cnictl.ops.runner import Outcome, RunOptions
from cnictl.plan import Plan
from cnictl.record import field, record
from cnictl.store import Store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.doctor.leftovers import Known


@record(frozen=True)
class GcResult(View):
    """`gc`: the journals finished (each as cnictl.recovery.Recovered.to_json()), what was removed (step
    summaries), what was kept ({"check", "detail", "hint"}) and whether it was a dry run."""

    recovered: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False


def gc(host: Host, opts: RunOptions | None = None) -> Outcome:
    """Finish unfinished journals, then remove the leftovers cnictl owns (see the module docstring)."""
    from cnictl.recovery import recover

    opts = opts or RunOptions()
    store = Store(host.paths)
    with store.locked(exclusive=True):  # (no host: this recovery is gc's own, torn journals included)
        recovered = recover(host, dry_run=opts.dry_run, torn_ok=True)
        plan, kept = gc_plan(host, store)
        errors: list[str] = []
        if not opts.dry_run and plan.steps:
            if opts.inject is not None:
                opts.inject(plan)
            errors = plan.teardown(host, echo=opts.echo)
    failed = [r for r in recovered if r.errors]
    if failed:
        raise RollbackIncompleteError("gc could not finish every interrupted change: " + "; ".join(
            r.message() for r in failed), hint=f"fix what the message names, then run {cli('gc')} again")
    if errors:
        raise CnictlError("gc was incomplete: " + "; ".join(errors), hint=f"run {cli('gc')} again")
    notices = [f"{r.message()}" for r in recovered]
    result = GcResult([r.to_json() for r in recovered], [s.summary for s in plan.steps], kept, opts.dry_run)
    return Outcome(result, plan, notices, applied=not opts.dry_run)


def gc_plan(host: Host, store: Store) -> tuple[Plan, list[dict[str, Any]]]:
    """The removal plan for what cnictl owns without a record, and what doctor reports that is kept."""
    from cnictl.doctor.check import Check
    from cnictl.doctor.leftovers import _known

    checks: list[Check] = []
    known = _known(host, checks)
    if checks:  # a record that cannot be read: nothing can be judged without a record
        raise CnictlError(checks[0].detail, hint=checks[0].hint or "fix or move the broken record file")
    plan = Plan()
    kept: list[dict[str, Any]] = []
    bridges = _firewall(host, known, plan, kept)
    _ipam(host, known, plan, kept)
    _ports(host, known, plan)
    _links(host, known, bridges, kept)
    return plan, kept


def _keep(kept: list[dict[str, Any]], check: str, detail: str, hint: str | None, why: str) -> None:
    kept.append({"check": check, "detail": f"{detail} (kept: {why})", "hint": hint})


def _firewall(host: Host, known: Known, plan: Plan, kept: list[dict[str, Any]]) -> set[str]:
    from cnictl.firewall import BACKENDS, get_backend
    from cnictl.firewall.steps import RemoveLeftover

    bridges: set[str] = set()
    for name in BACKENDS:
        try:
            backend = get_backend(name)
            bridges |= backend.bridges_in_rules()
            found = backend.leftovers(known, host)
        except CnictlError:  # rules that cannot be read: nothing to remove there
            continue
        for lo in found:
            if lo.commands:
                plan.add(RemoveLeftover(name, lo))
            else:
                _keep(kept, lo.check, lo.detail, lo.hint, "rules that only name a bridge; the hint rebuilds them")
    return bridges


def _ipam(host: Host, known: Known, plan: Plan, kept: list[dict[str, Any]]) -> None:
    from pathlib import Path

    from cnictl.doctor.check import cnictl_prefix
    from cnictl.doctor.ipam import cni_cache_owners, ipam_orphans, live_addresses
    from cnictl.ipam.hostlocal import HostLocalStore
    from cnictl.ipam.steps import DestroyIpamDir, ReleaseIP

    root = host.paths.ipam_root
    private = root.is_relative_to(host.paths.state_dir)
    caches = [Path(host.paths.dirs.cni_cache_dir), Path("/var/lib/cni")]
    orphans = ipam_orphans(root, private, known, cni_cache_owners(dict.fromkeys(caches)), live_addresses(host))
    for o in orphans:
        ipam = HostLocalStore(o.directory)
        if o.ip is None:  # a directory of a network with no record, in cnictl's own root
            for a in ipam.allocations():
                plan.add(ReleaseIP(ipam, a.ip, (a.container_id, a.ifname)))
            plan.add(DestroyIpamDir(ipam))
        elif o.owner is not None:
            continue  # in use by a CNI runtime or a live namespace: not a leftover
        elif private:
            cid, _, ifname = o.who.partition("/")
            plan.add(ReleaseIP(ipam, o.ip, (cid, ifname)))
        else:
            _keep(kept, f"leftover.ipam.{o.network}.{o.ip}", f"{o.ip} in network {o.network} is reserved for {o.who}, "
                  "which has no attachment record", f"{cnictl_prefix(host)} ipam release {o.network} {o.ip}",
                  f"{root} is shared with the CNI host-local plugin, which may have made it")


def _ports(host: Host, known: Known, plan: Plan) -> None:
    from cnictl.ports import PortClaims, ReleaseClaim

    claims = PortClaims(host.paths.state_dir / "ports")
    owners = {f"{a.network} {a.netns} {a.ifname}" for a in known.attachments}
    for rel, owner in claims.claims():
        if owner not in owners:
            plan.add(ReleaseClaim(claims, rel, owner))


def _links(host: Host, known: Known, bridges: set[str], kept: list[dict[str, Any]]) -> None:
    from cnictl.doctor.leftovers import leftover_links

    for c in leftover_links(host.nl().links(), known, bridges, host.ip_cmd()):
        _keep(kept, c.check, c.detail, c.hint, "no record or journal says cnictl made it")
