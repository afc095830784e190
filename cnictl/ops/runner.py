"""The small shared runner of the use cases: how to run a plan (RunOptions), what a use case returns (Outcome).

Every mutating use case validates first, builds a Plan, then `_run`s it (or `_teardown`s it, for removals);
a dry run only explains. `_endpoint` validates the (network, namespace, ifname) that attach, detach and the
port commands share.

    >>> RunOptions(dry_run=True).dry_run
    True
"""

from __future__ import annotations

import time

from cnictl.errors import CnictlError
from cnictl.host import Host
from cnictl.model import Network, validate_ifname, validate_network_name
from cnictl.netns import NetnsRef
from cnictl.plan import Plan, Step
from cnictl.record import field, record
from cnictl.store import Store, attachment_key

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from cnictl.ops.requests import View


@record
class RunOptions:
    """How to run a plan: dry_run only explains; echo sees each step; inject lets tests alter the plan."""

    dry_run: bool = False
    echo: Callable[[Step], None] | None = None
    inject: Callable[[Plan], None] | None = None


@record
class Outcome:
    result: dict[str, Any] | View  # a typed result (cnictl.ops.requests) or, not yet typed, its JSON object
    plan: Plan
    notices: list[str] = field(default_factory=list)
    applied: bool = False


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _recover_first(host: Host, opts: RunOptions) -> None:
    """Before a use case reads the records it plans from: finish the plans dead processes left (cnictl.recovery),
    so that what it plans from is what recovery leaves. Cheap when there are none (one listdir); a dry run
    changes nothing, so it does not recover."""
    from cnictl import journal

    if opts.dry_run or not journal.ENABLED or not journal.any_pending(host.paths.dirs.state_dir):
        return
    with Store(host.paths).locked(exclusive=True, host=host):
        pass


def _run(host: Host, plan: Plan, opts: RunOptions) -> bool:
    if opts.dry_run:
        return False
    if opts.inject is not None:
        opts.inject(plan)
    plan.apply(host, echo=opts.echo)
    return True


def _teardown(host: Host, store: Store, plan: Plan, opts: RunOptions, result: dict[str, Any] | View, what: str,
              hint: str) -> Outcome:
    """Run a removal plan under the shared state lock (or only explain it): every step runs even when one fails,
    and the failures become one error naming *what* was incomplete."""
    if opts.dry_run:
        return Outcome(result, plan)
    with store.locked(exclusive=False, host=host):
        errors = plan.teardown(host, echo=opts.echo)
    if errors:
        raise CnictlError(f"{what} was incomplete: " + "; ".join(errors), hint=hint)
    return Outcome(result, plan, applied=True)


def _endpoint(host: Host, network: str, netns: str, ifname: str) -> tuple[Store, Network, NetnsRef, str]:
    """Validate the (network, namespace, ifname) of an attach or detach: store, network, ref, record key."""
    validate_network_name(network)
    store = Store(host.paths)
    net = store.get_network(network)
    ref = NetnsRef.parse(netns)
    validate_ifname(ifname)
    return store, net, ref, attachment_key(ref.key, ifname)
