"""`cnictl doctor`: what this host can do for cnictl, and what cnictl left behind without a record.

Three groups of checks, each one record {"check", "status", "detail", "hint"}:

- kernel and firewall features, probed in a throwaway network namespace (`cnictl-doctor-<pid>-<hex>`,
  created and removed by this run, also on Ctrl-C): veth, bridge, macvlan, ipvlan, 802.1Q vlan and
  vxlan links, a tbf and an htb qdisc, an nftables table with forward and nat chains, and
  `iptables -t nat -L`. Nothing is ever created in the namespace cnictl acts on;
- settings of the host namespace: IPv4/IPv6 forwarding, br_netfilter, and cnictl's own firewall rules
  for its networks (what `cnictl fw check` reports);
- leftovers: links, nftables chains, iptables rules and IPAM reservations that look like cnictl's but
  belong to no network or attachment record. Each comes with the exact command that removes it.

Status: `ok`; `missing` (an optional feature is absent: the detail says what it disables); `warn`
(worth knowing, nothing to repair); `fail` (something is wrong). The exit rule is: everything is
fine exactly when no check has status `fail`. A missing core feature (veth or bridge links, or both
firewall backends) is `fail`; optional ones (macvlan, ipvlan, vlan, vxlan, tc qdiscs, one of the two
firewall backends when the other works and no network uses it) are `missing`.

One module per group: `features` (the throwaway-namespace probe), `settings` (the host namespace),
`leftovers` (links, probe namespaces, and each firewall backend's own leftover rules, asked through
`FirewallBackend.leftovers`), `ipam` (reservations, CNI caches, live addresses); `check` holds the
record and the exit rule. Every public name is importable from `cnictl.doctor`.

    >>> summary([Check("kernel.veth", OK, "created"), Check("kernel.vlan", MISSING, "absent")])
    '2 checks: 1 ok, 1 missing (optional); nothing is wrong'
"""

from __future__ import annotations

import contextlib
import os

from cnictl.doctor.check import FAIL, MISSING, OK, STATUSES, WARN, Check, cnictl_prefix, healthy, summary
from cnictl.doctor.features import (
    CORE_KINDS,
    OPTIONAL_KINDS,
    PROBE_PREFIX,
    PROBE_RE,
    IptablesFacts,
    firewall_checks,
    link_checks,
    probe_features,
    probe_name,
    qdisc_checks,
)
from cnictl.doctor.ipam import cni_cache_owners, leftover_ipam, live_addresses
from cnictl.doctor.leftovers import (
    HOST_VETH_RE,
    Known,
    _alive,
    _known,
    firewall_leftovers,
    leftover_checks,
    leftover_links,
    leftover_probe_namespaces,
)
from cnictl.doctor.settings import br_netfilter_check, forwarding_checks, fw_check_checks, host_checks
from cnictl.errors import cli

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterator

    from cnictl.host import Host

__all__ = [
    "CORE_KINDS", "FAIL", "HOST_ACCESS_ID", "HOST_VETH_RE", "MISSING", "OK", "OPTIONAL_KINDS", "PROBE_PREFIX", "PROBE_RE",
    "SHIM_PREFIX", "STATUSES", "WARN", "Check", "IptablesFacts", "Known", "_alive", "br_netfilter_check",
    "cni_cache_owners", "cnictl_prefix", "firewall_checks", "firewall_leftovers", "forwarding_checks", "fw_check_checks",
    "healthy", "host_checks", "leftover_checks", "leftover_ipam", "leftover_links", "leftover_probe_namespaces",
    "link_checks", "live_addresses", "probe_features", "probe_name", "qdisc_checks", "run", "summary",
]


def __getattr__(name: str) -> object:
    """HOST_ACCESS_ID and SHIM_PREFIX, names this package has exported: no copies any more, but what the
    drivers answer (the IPAM owner of the reservations a driver holds itself, the prefix of its other host
    links), as the checks ask them."""
    from cnictl import drivers

    answers = {"HOST_ACCESS_ID": drivers.ipam_owners, "SHIM_PREFIX": drivers.host_link_prefixes}
    if name in answers:
        return answers[name]()[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextlib.contextmanager
def _state_lock(host: Host, checks: list[Check]) -> Iterator[None]:
    """Hold the state lock (exclusive: no attach or net create half-done) while leftovers are read; if
    it cannot be had in a few seconds, read anyway and say so."""
    from cnictl.errors import TransientError
    from cnictl.store import Store

    with contextlib.ExitStack() as stack:
        if host.paths.state_dir.is_dir():
            try:
                stack.enter_context(Store(host.paths).locked(exclusive=True, timeout=5.0))
            except TransientError:
                checks.append(Check("state.lock", WARN, "another cnictl is changing the state: changes in flight may "
                                                        "show as leftovers", f"run {cli('doctor')} again in a moment"))
        yield


def journal_checks(host: Host) -> list[Check]:
    """Plans a dead process left unfinished (cnictl.journal): each is a failure that `cnictl gc` (or the next
    command that changes something) finishes. Doctor only reads them."""
    from cnictl import journal
    from cnictl.recovery import describe

    out = []
    for path, fd in journal.pending(host.paths.dirs.state_dir):
        try:
            parsed = journal.read(fd)
        finally:
            os.close(fd)
        what = describe(parsed.header) if parsed.header else "change"
        torn = f"; the journal is torn ({parsed.problem})" if parsed.torn else ""
        done = f"{len(parsed.done)} of {len(parsed.steps)} step(s) done"
        out.append(Check(f"leftover.journal.{os.path.basename(path)}", FAIL,
                         f"interrupted {what}: {done}{torn} (journal {path})", cli("gc")))
    return out


def run(host: Host) -> list[Check]:
    """Every check: features (in a throwaway namespace), host settings, leftovers. Needs root.

    *host* must be entered: its namespace and state are the ones inspected, and nothing in them changes.
    Leftovers are read first, under the state lock; the probes run after it is released.
    """
    state: list[Check] = []
    with _state_lock(host, state):
        known = _known(host, state)
        settings = host_checks(host, known)
        found = journal_checks(host) + leftover_checks(host, known)
    features = probe_features(host, known.networks)
    if not found:
        found = [Check("leftovers", OK, "no link, firewall rule or IPAM reservation of cnictl's lacks a record")]
    return features + settings + state + found
