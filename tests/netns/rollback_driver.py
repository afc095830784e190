"""Run one cnictl operation through the library with a failure injected before step K (test helper).

usage: rollback_driver.py HOST STATE_DIR (create|attach|attach-ports|publish|ns|mv-create|mv-attach) K (fail|sigint) [NETNS]
mv-create makes macvlan network "mv" with --host-access on the host's eth0 (which the test provides).
K = -1 only counts the steps of the plan. Prints JSON: {"steps": n, "raised": "<exception type>"}.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from cnictl import ops
from cnictl.host import Host
from cnictl.plan import FailStep, Plan, Step


class Interrupt(Step):
    """Delivers a real SIGINT to this process mid-plan, as a user's Ctrl-C would."""

    summary = "SIGINT"

    def apply(self, host: Host) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        signal.sigtimedwait([], 0.01) if hasattr(signal, "sigtimedwait") else None
        for _ in range(1000):  # the handler raises KeyboardInterrupt at the next bytecode
            pass


def main() -> int:
    host_ns, state, op, k, mode = sys.argv[1:6]
    target = sys.argv[6] if len(sys.argv) > 6 else None
    index = int(k)
    counted: list[int] = []

    def inject(plan: Plan) -> None:
        counted.append(len(plan.steps))
        if 0 <= index < 1000:  # K >= 1000: run the plan as it is
            plan.steps.insert(index, FailStep() if mode == "fail" else Interrupt())

    opts = ops.RunOptions(dry_run=index < 0, inject=inject)
    raised = None
    with Host(netns=host_ns, state_dir=state, firewall=os.environ.get("CNICTL_FIREWALL", "nftables")) as host:
        try:
            if op == "create":
                out = ops.create_network(host, ops.NetworkRequest(name="rb", subnets=["10.60.0.0/24", "fd00:60::/64"]), opts)
            elif op == "attach":
                assert target
                out = ops.attach(host, "rb", target, opts, mac="02:00:00:00:00:01")
            elif op == "attach-ports":
                assert target
                out = ops.attach(host, "rb", target, opts, mac="02:00:00:00:00:01",
                                 ports=["8080:80", "127.0.0.1:8081-8082:81-82/udp"])
            elif op == "mv-create":
                out = ops.create_network(host, ops.NetworkRequest(
                    name="mv", driver="macvlan", parent="eth0", subnets=["192.168.77.0/24"], gateway="192.168.77.1",
                    ip_range="192.168.77.64/27", host_access=True), opts)
            elif op == "mv-attach":
                assert target
                out = ops.attach(host, "mv", target, opts, mac="02:00:00:00:00:02")
            elif op == "publish":
                assert target
                out = ops.port_publish(host, "rb", target, "9090:90", opts)
            else:
                assert target
                out = ops.ns_add(host, target, opts)
            if index < 0:
                counted.append(len(out.plan.steps))
        except BaseException as e:  # noqa: BLE001
            raised = type(e).__name__
    print(json.dumps({"steps": counted[0] if counted else 0, "raised": raised}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
