"""A real runtime: podman 4.3 (CNI backend) runs containers on cnictl networks, through an emitted
reference-plugin conflist and through a `cnictl`-type conflist served by the cnictl-cni plugin.

podman runs under `nsenter --net` into the lab's host namespace, so every plugin acts there (see
/work/shared/guide/RUNTIMES.md: not `ip netns exec`, which hides the cgroup mounts from runc). Its
configuration is private (CONTAINERS_CONF); the image is built from busybox-static without a registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CNICTL, RUN, Lab, sh

IMAGE = f"localhost/cnictl-test-busybox-{RUN}:latest"
NEEDED = ("podman", "runc", "nsenter")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in NEEDED) or not Path("/bin/busybox").exists(),
    reason="podman, runc and busybox-static are installed by scripts/setup.sh",
)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("rootfs")
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "run", "var", "www"):
        (root / d).mkdir()
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    applets = subprocess.run([str(root / "bin" / "busybox"), "--list"], capture_output=True, text=True).stdout.split()
    for a in applets:
        if a != "busybox":
            (root / "bin" / a).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    tar = root.parent / "rootfs.tar"
    sh(f"tar -C {root} -cf {tar} .")
    # podman's own config, even for image commands: with the defaults it would touch /etc/cni/net.d (cni.lock)
    netd = root.parent / "image-net.d"
    netd.mkdir()
    conf = root.parent / "image-containers.conf"
    conf.write_text(f'[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "{netd}"\n')
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    subprocess.run(["podman", "import", "--quiet", "--change", 'CMD ["/bin/sh"]', str(tar), IMAGE], env=env,
                   check=True, capture_output=True, timeout=120)
    try:
        yield IMAGE
    finally:
        subprocess.run(["podman", "rmi", "-f", IMAGE], env=env, capture_output=True, timeout=120)


class Podman:
    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.lab, self.tmp = lab, tmp
        self.confdir = tmp / "net.d"
        self.plugins = tmp / "plugins"
        self.confdir.mkdir()
        self.plugins.mkdir()
        nofile = subprocess.run("ulimit -Hn", shell=True, capture_output=True, text=True).stdout.strip()
        nofile = "1048576" if nofile == "unlimited" else nofile
        conf = tmp / "containers.conf"
        conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc=32768:32768"]\n'
            "[engine]\nruntime = \"runc\"\n"
            "[network]\nnetwork_backend = \"cni\"\n"
            f'network_config_dir = "{self.confdir}"\n'
            f'cni_plugin_dirs = ["{self.plugins}", "/usr/lib/cni"]\n'
        )
        self.env = dict(lab.env(), CONTAINERS_CONF=str(conf))
        self.names: list[str] = []

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = ["nsenter", f"--net=/run/netns/{self.lab.host}", "podman", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def start(self, network: str, image: str, *extra: str) -> str:
        name = f"cnictl-t{RUN}-{len(self.names)}"
        self.names.append(name)
        self.run("run", "-d", "--name", name, "--network", network, *extra, image,
                 "sh", "-c", "mkdir -p /www; echo served-by-podman >/www/index.html; httpd -p 80 -h /www; exec sleep 600")
        return name

    def ip(self, name: str, network: str) -> str:
        fmt = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        return self.run("inspect", "--format", fmt, name).stdout.strip()

    def cleanup(self) -> None:
        for name in self.names:
            self.run("rm", "-f", "-t", "0", name, check=False)


@pytest.fixture
def podman(lab: Lab, tmp_path: Path) -> Iterator[Podman]:
    pm = Podman(lab, tmp_path)
    try:
        yield pm
    finally:
        pm.cleanup()


def fetch(lab: Lab, ns: str, url: str) -> str:
    for _ in range(20):  # httpd may need a moment to listen
        p = lab.exec(ns, f"timeout 3 busybox wget -qO- {url}", check=False)
        if p.returncode == 0:
            return p.stdout.strip()
        time.sleep(0.25)
    return ""


def owners(lab: Lab, network: str) -> set[str]:
    return {a["container_id"] for a in lab.json("ipam", "show", network)["allocations"]}


def check_container(lab: Lab, podman: Podman, image: str, network: str, host_port: str) -> None:
    peer = lab.netns("p")
    peer_ip = lab.json("attach", "lab", peer)["addresses"][0].split("/")[0]
    up = lab.upstream()
    name = podman.start(network, image, "-p", f"{host_port}:80")
    ip = podman.ip(name, network)
    assert ip.startswith("10.66.0."), ip
    cid = podman.run("inspect", "--format", "{{.Id}}", name).stdout.strip()
    assert cid in owners(lab, "lab")  # the container's address is in cnictl's store
    # the container reaches the cnictl-attached namespace and back, on the same bridge
    assert podman.run("exec", name, "ping", "-c1", "-W2", peer_ip, check=False).returncode == 0
    assert lab.ping(peer, ip)
    # -p through the chain: from outside the host (the upstream namespace) to the host's address
    body = fetch(lab, up, f"http://203.0.113.1:{host_port}/")
    assert body == "served-by-podman"
    podman.run("rm", "-f", "-t", "0", name)
    assert owners(lab, "lab") == {peer}  # podman's DEL left no reservation
    assert "veth" not in lab.ip(lab.host, "-o link show master br-lab")


def test_podman_on_an_emitted_reference_conflist(lab: Lab, podman: Podman, image: str) -> None:
    lab.cli("net", "create", "lab", "--subnet", "10.66.0.0/24", "--cni-conf-dir", str(podman.confdir))
    assert podman.run("network", "inspect", "lab").returncode == 0
    check_container(lab, podman, image, "lab", "8080")


def test_podman_on_a_cnictl_plugin_conflist(lab: Lab, podman: Podman, image: str) -> None:
    lab.cli("net", "create", "lab", "--subnet", "10.66.0.0/24")
    lab.cli("cni", "install", "--dir", str(podman.plugins))
    assert os.access(podman.plugins / "cnictl", os.X_OK)
    data = lab.json("cni", "emit", "lab", "--plugin", "cnictl")
    data["name"] = "labp"  # a podman network name of its own for the cnictl network "lab"
    (podman.confdir / "labp.conflist").write_text(json.dumps(data))
    check_container(lab, podman, image, "labp", "8081")


def test_cnictl_binary_is_the_one_under_test() -> None:
    assert Path(CNICTL).exists()


def test_doctor_sees_a_podman_container_as_in_use(lab: Lab, podman: Podman, image: str) -> None:
    lab.cli("net", "create", "lab", "--subnet", "10.66.0.0/24", "--cni-conf-dir", str(podman.confdir))
    name = podman.start("lab", image)
    ip = podman.ip(name, "lab")
    r = lab.cli("--json", "doctor", check=False)
    checks = {c["check"]: c for c in json.loads(r.stdout)["checks"]}
    assert not [c for c in checks if c.startswith("leftover.ipam")], checks
    assert ip in checks["ipam.cni"]["detail"]
    assert r.returncode == 0, [c for c in checks.values() if c["status"] == "fail"]
    podman.run("rm", "-f", "-t", "0", name)
    checks = {c["check"]: c for c in lab.json("doctor")["checks"]}
    assert "ipam.cni" not in checks and not [c for c in checks if c.startswith("leftover.ipam")]
