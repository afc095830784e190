#!/usr/bin/env bash
# Set up cnictl on a fresh Debian 12 machine, as root: system packages, a venv in .venv, the package.
# Safe to run again: it installs only what is missing.
#   bash scripts/setup.sh              everything the test suite needs (reference CNI plugins, podman, containerd, iperf3)
#   bash scripts/setup.sh --for demo   only what cnictl itself and the demo need
set -euo pipefail
purpose=test
if [ "${1:-}" = "--for" ]; then
    purpose="${2:-}"
fi
case "$purpose" in
    demo|test) ;;
    *) echo "setup: --for takes demo or test (got '$purpose')" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "setup: run as root (cnictl changes network namespaces, links and nftables)" >&2
    exit 6
fi
export DEBIAN_FRONTEND=noninteractive
pkgs=(iproute2 iputils-ping procps nftables libnftables1 iptables python3 python3-venv)
if [ "$purpose" = test ]; then
    pkgs+=(containernetworking-plugins iperf3 podman runc busybox-static containerd)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import cnictl, pyroute2, nftables, typer, tabulate, pytest, ruff, mypy' 2>/dev/null \
   || [ pyproject.toml -nt .venv/.cnictl-installed ]; then
    .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
    touch .venv/.cnictl-installed
fi
# pip's console scripts import `site` first; cnictl's own launchers skip it (faster start-up, and Ctrl-C has its
# documented meaning from the first millisecond): see cnictl/launcher.py
.venv/bin/python -m cnictl.launcher .venv/bin/cnictl cnictl.cli.entry:main
.venv/bin/python -m cnictl.launcher .venv/bin/cnictl-cni cnictl.cni.plugin:main
echo "setup: ready: $PWD/.venv/bin/cnictl (put it on PATH with: export PATH=\"$PWD/.venv/bin:\$PATH\")" >&2
