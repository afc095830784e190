"""Concurrency: 32 parallel `cnictl attach` processes on one network, then 32 parallel detaches."""

from __future__ import annotations

import subprocess

from conftest import CNICTL, Lab

N = 32


def _parallel(lab: Lab, argv_list: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen([CNICTL, "--netns", lab.host, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=lab.env()) for argv in argv_list]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def test_parallel_attach_and_detach(lab: Lab) -> None:
    names = [lab.netns("p") for _ in range(N)]
    lab.cli("net", "create", "par", "--subnet", "10.70.0.0/24")
    results = _parallel(lab, [["--json", "attach", "par", n] for n in names])
    failed = [(r.returncode, r.stderr) for r in results if r.returncode != 0]
    assert not failed, failed
    import json

    addrs = [json.loads(r.stdout)["addresses"][0] for r in results]
    assert len(set(addrs)) == N
    ipam_dir = lab.state / "ipam" / "par"
    assert len([p for p in ipam_dir.iterdir() if p.name.startswith("10.70.0.")]) == N
    # every namespace really got its address and can reach the gateway
    for n, a in zip(names, addrs, strict=True):
        assert a in lab.ip(n, "-o addr show eth0")
    assert lab.ping(names[0], addrs[-1].split("/")[0])

    results = _parallel(lab, [["detach", "par", n] for n in names])
    failed = [(r.returncode, r.stderr) for r in results if r.returncode != 0]
    assert not failed, failed
    assert sorted(p.name for p in ipam_dir.iterdir()) == ["last_reserved_ip.0", "lock"]
    assert lab.json("net", "inspect", "par")["attachments"] == []
    assert "cni" not in lab.ip(lab.host, "-o link show master br-par")
