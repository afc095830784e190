"""A second real runtime: containerd 1.6 (`ctr run --rm --cni`) runs a container on a cnictl network,
through an emitted reference-plugin conflist and through a `cnictl`-type conflist.

ctr makes the CNI calls itself, with fixed directories (the first conflist by name in /etc/cni/net.d,
plugins from /opt/cni/bin:/usr/lib/cni, its result cache in /var/lib/cni), and it calls DEL with
CNI_NETNS empty (see /work/shared/guide/RUNTIMES.md, section 2). So ctr runs in the lab's host
namespace and in a private mount namespace where a tmpfs covers /opt and private directories are
bind-mounted onto those paths: the machine's own directories are never touched.

The containerd daemon is private to this module: config, root, state, socket and opt under tmp, the
cri plugin disabled, running in a mount namespace of its own whose /run is a tmpfs (the shim and runc
keep their sockets and state under /run/containerd); it is killed at the end and its files removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RUN, Lab

NEEDED = ("containerd", "ctr", "runc", "nsenter", "unshare")
pytestmark = [
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in NEEDED),
        reason="containerd/ctr (apt package containerd, with runc) and util-linux are not installed",
    ),
    pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static is not installed"),
    pytest.mark.skipif(
        not Path("/etc/cni/net.d").is_dir(),
        reason="/etc/cni/net.d does not exist: nothing to bind a private conf dir onto",
    ),
]

SUBNET = "10.67.0."
NAMESPACE = f"cnictl-t{RUN}"

# Run in the private mount namespace: $1 conf dir, $2 plugin dir, $3 CNI cache dir, then the command.
IN_NS = r"""
set -e
mount -t tmpfs cnictl-opt /opt
mkdir -p /opt/cni/bin
mount --bind "$2" /opt/cni/bin
mount --bind "$1" /etc/cni/net.d
if [ -d /var/lib/cni ]; then mount --bind "$3" /var/lib/cni; else mount -t tmpfs cnictl-var /var/lib; fi
shift 3
exec "$@"
"""

# The daemon's private mount namespace: a tmpfs on /run for the shim's and runc's /run/containerd.
DAEMON = r"""
set -e
mount -t tmpfs cnictl-run /run
exec containerd --config "$1"
"""


class Containerd:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sock = tmp / "containerd.sock"
        self.log = tmp / "containerd.log"
        config = tmp / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{tmp / "root"}"\n'
            f'state = "{tmp / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            "[grpc]\n"
            f'  address = "{self.sock}"\n'
            '[plugins."io.containerd.internal.v1.opt"]\n'
            f'  path = "{tmp / "opt"}"\n'
        )
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                ["unshare", "-m", "--propagation", "private", "sh", "-c", DAEMON, "sh", str(config)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"containerd exited ({self.proc.returncode}):\n{self.log.read_text()}")
            if self.sock.exists() and self.ctr("version", check=False).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"containerd did not come up:\n{self.log.read_text()}")
            time.sleep(0.05)

    def ctr(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = ["ctr", "--address", str(self.sock), "-n", NAMESPACE, *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def stop(self) -> None:
        # containers left by a failed test: kill their tasks, then delete them
        for cid in self.ctr("containers", "list", "-q", check=False, timeout=20).stdout.split():
            self.ctr("tasks", "delete", "--force", cid, check=False, timeout=30)
            self.ctr("containers", "delete", cid, check=False, timeout=30)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # sh exec'd containerd: this is the daemon's pid
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        # a shim of a task that could not be deleted: it carries our socket path in its arguments
        for pid in _pids_with_arg(str(self.sock)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _pids_with_arg(needle: str) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if needle.encode() in (d / "cmdline").read_bytes():
                    found.append(int(d.name))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    tmp = tmp_path_factory.mktemp("ctrd")
    daemon = Containerd(tmp)
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rootfs")
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "run"):
        (root / d).mkdir()
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    for a in ("sh", "ip", "sleep", "cat"):
        (root / "bin" / a).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    return root


def allocations(lab: Lab) -> list[dict[str, str]]:
    return list(lab.json("ipam", "show", "lab")["allocations"])


def run_container(lab: Lab, ctrd: Containerd, rootfs: Path, tmp: Path, name: str) -> tuple[str, list[dict[str, str]]]:
    """`ctr run --rm --cni` a container that prints its eth0 address and then waits for a marker file
    (written by the test into the rootfs' /tmp once it has looked at cnictl's store).
    Returns (ctr's output, cnictl's allocations while the container ran)."""
    go = rootfs / "tmp" / f"go-{name}"
    script = f"/bin/ip -4 -o addr show eth0; while [ ! -e /tmp/go-{name} ]; do /bin/sleep 0.05; done"
    fifo = tmp / "fifo"
    fifo.mkdir(exist_ok=True)
    cmd = [
        "nsenter", f"--net=/run/netns/{lab.host}", "unshare", "-m", "--propagation", "private",
        "sh", "-c", IN_NS, "sh", str(tmp / "net.d"), str(tmp / "plugins"), str(tmp / "cache"),
        "ctr", "--address", str(ctrd.sock), "-n", NAMESPACE, "run", "--rm", "--cni", "--fifo-dir", str(fifo),
        "--rootfs", str(rootfs), name, "/bin/sh", "-c", script,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=lab.env())
    seen: list[dict[str, str]] = []
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            seen = allocations(lab)
            if seen:
                break
            time.sleep(0.05)
        go.touch()
        out, err = proc.communicate(timeout=60)
    finally:
        go.touch()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        go.unlink(missing_ok=True)
    assert proc.returncode == 0, f"ctr run failed ({proc.returncode}):\n{out}\n{err}"
    return out, seen


@pytest.fixture
def dirs(tmp_path: Path) -> Path:
    for d in ("net.d", "plugins", "cache"):
        (tmp_path / d).mkdir()
    return tmp_path


def check(lab: Lab, ctrd: Containerd, rootfs: Path, tmp: Path, name: str) -> None:
    before = {p: sorted(os.listdir(p)) for p in ("/etc/cni/net.d", "/opt")}
    out, seen = run_container(lab, ctrd, rootfs, tmp, name)
    assert f"inet {SUBNET}" in out and "eth0" in out, out
    addr = out.split("inet ", 1)[1].split("/")[0]
    # cnictl's store held the container's address while it ran ...
    assert [(a["ip"], a["container_id"]) for a in seen] == [(addr, f"{NAMESPACE}-{name}")], (addr, seen)
    # ... and ctr's DEL (CNI_NETNS empty) released it
    assert allocations(lab) == []
    assert "veth" not in lab.ip(lab.host, "-o link show master br-lab")
    assert {p: sorted(os.listdir(p)) for p in ("/etc/cni/net.d", "/opt")} == before  # the machine's dirs
    assert not ctrd.ctr("containers", "list", "-q").stdout.strip()  # --rm removed the container


def test_ctr_on_an_emitted_reference_conflist(lab: Lab, containerd: Containerd, rootfs: Path, dirs: Path) -> None:
    lab.cli("net", "create", "lab", "--subnet", f"{SUBNET}0/24")
    conf = lab.json("cni", "emit", "lab")
    (dirs / "net.d" / "10-lab.conflist").write_text(json.dumps(conf))
    check(lab, containerd, rootfs, dirs, "ref")


def test_ctr_on_a_cnictl_plugin_conflist(lab: Lab, containerd: Containerd, rootfs: Path, dirs: Path) -> None:
    lab.cli("net", "create", "lab", "--subnet", f"{SUBNET}0/24")
    lab.cli("cni", "install", "--dir", str(dirs / "plugins"))
    assert os.access(dirs / "plugins" / "cnictl", os.X_OK)
    conf = lab.json("cni", "emit", "lab", "--plugin", "cnictl")
    (dirs / "net.d" / "10-lab.conflist").write_text(json.dumps(conf))
    check(lab, containerd, rootfs, dirs, "cnictl")
