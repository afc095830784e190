#!/usr/bin/env bash
# Set up cnictl on a fresh Debian 12 machine, as root: system packages, a venv in .venv, the package.
# Safe to run again: it installs only what is missing or out of date.
#   bash scripts/setup.sh                         everything the test suite needs (reference CNI plugins, podman,
#                                                 containerd, iperf3); cnictl installed editable, with the dev tools
#   bash scripts/setup.sh --for demo              only what cnictl itself and the demo need; cnictl installed as a
#                                                 regular package (a copy of this tree, rebuilt when the tree changes)
#   bash scripts/setup.sh --for demo --editable   the same, but editable (the venv runs this tree as you edit it)
# Why the demo's install is not editable, and the tests' is: docs/performance.md.
set -euo pipefail
purpose=test
editable=
while [ "$#" -gt 0 ]; do
    case "$1" in
        --for) purpose="${2:-}"; shift 2 || shift ;;
        --editable) editable=1; shift ;;
        *) echo "setup: unknown argument '$1' (see the head of scripts/setup.sh)" >&2; exit 2 ;;
    esac
done
case "$purpose" in
    demo|test) ;;
    *) echo "setup: --for takes demo or test (got '$purpose')" >&2; exit 2 ;;
esac
if [ "$purpose" = test ]; then
    editable=1  # the tests import the work tree
fi
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
# .venv/.cnictl-installed records how cnictl was installed: "editable" or "regular"
if [ -n "$editable" ]; then kind=editable; else kind=regular; fi
modules='cnictl, pyroute2, nftables, typer, tabulate'
spec=.
if [ "$purpose" = test ]; then
    modules="$modules, pytest, ruff, mypy"
    spec='.[dev]'
fi
stale=
if [ ! -f .venv/.cnictl-installed ] || [ "$(cat .venv/.cnictl-installed)" != "$kind" ] \
   || [ pyproject.toml -nt .venv/.cnictl-installed ] \
   || ! .venv/bin/python -I -c "import $modules" 2>/dev/null; then
    stale=1
elif [ "$kind" = regular ] && [ -n "$(find cnictl -name '*.py' -newer .venv/.cnictl-installed -print -quit)" ]; then
    stale=1  # a regular install is a copy: rebuild it when the tree changed
fi
if [ -n "$stale" ]; then
    if [ "$kind" = editable ]; then
        .venv/bin/pip install -q --disable-pip-version-check -e "$spec"
    else
        had_build=
        if [ -e build ]; then had_build=1; fi
        .venv/bin/pip install -q --disable-pip-version-check "$spec"  # the dependencies that are missing
        .venv/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps "$spec"  # a fresh copy
        if [ -z "$had_build" ]; then rm -rf build; fi  # setuptools' in-tree build directory, if it made it
    fi
    echo "$kind" > .venv/.cnictl-installed
fi
# pip's console scripts import `site` first; cnictl's own launchers skip it (faster start-up, and Ctrl-C has its
# documented meaning from the first millisecond): see cnictl/launcher.py
# -I: run the installed cnictl (a regular install's copy), not the tree in the current directory
.venv/bin/python -I -m cnictl.launcher .venv/bin/cnictl cnictl.cli.entry:main
.venv/bin/python -I -m cnictl.launcher .venv/bin/cnictl-cni cnictl.cni.plugin:main
echo "setup: ready: $PWD/.venv/bin/cnictl (put it on PATH with: export PATH=\"$PWD/.venv/bin:\$PATH\")" >&2
