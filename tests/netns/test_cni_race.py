"""Parallel first ADDs of a network the plugin creates from inline options: creation is decided under the
state lock, so every ADD succeeds (one creates the network, the others find it made) with its own address."""

from __future__ import annotations

import json
import os
import subprocess
import time

from conftest import PLUGIN, Lab

N = 16
ROUNDS = 10
STAGGER = 0.006


def _adds(lab: Lab, conf: dict[str, object], netns: str, command: str = "ADD") -> list[tuple[int, str, str]]:
    procs = []
    stdin = lab.state.parent / f"conf-{netns}-{conf['name']}.json"
    stdin.write_text(json.dumps(conf))
    for i in range(N):
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": f"race{i}", "CNI_NETNS": f"/run/netns/{netns}",
               "CNI_IFNAME": f"eth{i}", "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        cmd = ["ip", "netns", "exec", lab.host, "env", "-i", *[f"{k}={v}" for k, v in env.items()], PLUGIN]
        time.sleep(STAGGER)  # arrivals spread over the first one's creation, as runtimes' ADDs come
        with open(stdin) as f:
            procs.append(subprocess.Popen(cmd, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append((p.returncode, stdout, stderr))
    return out


def test_parallel_first_adds_on_a_fresh_inline_network(lab: Lab) -> None:
    c = lab.netns("c")
    failures = []
    for r in range(ROUNDS):
        conf = {"cniVersion": "1.0.0", "name": f"race{r}", "type": "cnictl", "stateDir": str(lab.state),
                "subnet": f"10.71.{r}.0/24"}
        results = _adds(lab, conf, c)
        bad = [(rc, out, err) for rc, out, err in results if rc != 0]
        failures += [f"round {r}: {out.strip()} {err.strip()}" for _, out, err in bad]
        addrs = [json.loads(out)["ips"][0]["address"] for rc, out, _ in results if rc == 0]
        assert len(set(addrs)) == len(addrs), f"round {r}: an address was handed out twice: {sorted(addrs)}"
        assert all(a.startswith(f"10.71.{r}.") for a in addrs)
        for rc, out, err in _adds(lab, conf, c, "DEL"):
            assert rc == 0, f"round {r}: DEL failed: {out} {err}"
        net = json.loads((lab.state / "networks" / f"race{r}.json").read_text())
        assert net["bridge"] == f"br-race{r}" and net["managed_bridge"]
    assert not failures, f"{len(failures)} of {N * ROUNDS} first ADDs failed: {failures[:3]}"


def test_an_add_waits_for_a_creation_in_flight_instead_of_failing(lab: Lab) -> None:
    """The moment a loser used to fail in: another cnictl holds the state lock and has made the bridge but not
    yet saved the network (here it then rolls back). The ADD must wait for the lock and decide then."""
    import fcntl

    c = lab.netns("c")
    lab.state.mkdir(parents=True, exist_ok=True)
    conf = {"cniVersion": "1.0.0", "name": "inflight", "type": "cnictl", "stateDir": str(lab.state),
            "subnet": "10.71.200.0/24"}
    stdin = lab.state.parent / "inflight.json"
    stdin.write_text(json.dumps(conf))
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "late", "CNI_NETNS": f"/run/netns/{c}", "CNI_IFNAME": "eth0",
           "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    cmd = ["ip", "netns", "exec", lab.host, "env", "-i", *[f"{k}={v}" for k, v in env.items()], PLUGIN]
    fd = os.open(lab.state / "lock", os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the other creation in flight
        lab.ip(lab.host, "link add br-inflight type bridge")
        with open(stdin) as f:
            p = subprocess.Popen(cmd, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 3
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        early = p.poll()
        lab.ip(lab.host, "link del br-inflight")  # that creation failed and rolled back
    finally:
        os.close(fd)  # releases the lock
    out, err = p.communicate(timeout=60)
    assert early is None, f"the ADD did not wait for the creation in flight: rc {early}: {out} {err}"
    assert p.returncode == 0, f"{out} {err}"
    assert json.loads(out)["ips"][0]["address"].startswith("10.71.200.")
    assert json.loads((lab.state / "networks" / "inflight.json").read_text())["managed_bridge"] is True
