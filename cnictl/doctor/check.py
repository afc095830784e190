"""One finding of `cnictl doctor`, its four statuses, and the exit rule: what every check module returns.

    >>> healthy([Check("kernel.veth", OK, "created"), Check("kernel.vlan", MISSING, "absent")])
    True
"""

from __future__ import annotations

import errno as errno_mod
import os

from cnictl.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from cnictl.host import Host

OK, MISSING, WARN, FAIL = "ok", "missing", "warn", "fail"
STATUSES = (OK, MISSING, WARN, FAIL)


@record(frozen=True)
class Check:
    """One finding: `check` is a dotted name (kernel.macvlan, leftover.link.cni0123456789ab, ...)."""

    check: str
    status: str
    detail: str
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "detail": self.detail, "hint": self.hint}


def healthy(checks: Iterable[Check]) -> bool:
    """The exit rule: nothing is wrong when no check failed (missing and warn do not count)."""
    return not any(c.status == FAIL for c in checks)


def summary(checks: Sequence[Check]) -> str:
    counts = {s: sum(1 for c in checks if c.status == s) for s in STATUSES}
    parts = [f"{counts[OK]} ok"]
    if counts[MISSING]:
        parts.append(f"{counts[MISSING]} missing (optional)")
    if counts[WARN]:
        parts.append(f"{counts[WARN]} warn")
    if counts[FAIL]:
        parts.append(f"{counts[FAIL]} fail")
    verdict = "nothing is wrong" if not counts[FAIL] else f"{counts[FAIL]} problem(s): see the hints"
    return f"{len(checks)} checks: {', '.join(parts)}; {verdict}"


def errtext(code: int) -> str:
    """`Operation not permitted (EPERM)`."""
    return f"{os.strerror(code)} ({errno_mod.errorcode.get(code, code)})"


def cnictl_prefix(host: Host) -> str:
    """`cnictl` with the global options that reach the same host and state (for hints)."""
    return host.cli_prefix()
