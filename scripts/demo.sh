#!/usr/bin/env bash
# A short demo in a sandbox: a throwaway namespace stands in for the machine, so the machine's own
# network namespace is never touched. doctor; a bridge network, two namespaces, a ping, ipam show, fw show;
# a macvlan network on the sandbox's "LAN" interface with host access; clean-up.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --for demo
HOST="cnictl-demo-$$"
WEB="demo-web-$$"
DB="demo-db-$$"
STATE="$(mktemp -d /tmp/cnictl-demo.XXXXXX)"
export CNICTL_STATE_DIR="$STATE"
C=(.venv/bin/cnictl --netns "$HOST")
cleanup() {
    "${C[@]}" net rm lab --force >/dev/null 2>&1 || true
    "${C[@]}" net rm lan --force >/dev/null 2>&1 || true
    ip netns del "$WEB" 2>/dev/null || true
    ip netns del "$DB" 2>/dev/null || true
    ip netns del "$HOST" 2>/dev/null || true
    rm -rf "$STATE"
}
trap cleanup EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
ip netns add "$HOST"
echo "sandbox host namespace: $HOST (state in $STATE)"
# the sandbox's "LAN" interface: one end of a veth pair, as a macvlan parent
ip -n "$HOST" link add eth1 type veth peer name lan-peer
ip -n "$HOST" link set eth1 up && ip -n "$HOST" link set lan-peer up
step "${C[@]}" doctor
step "${C[@]}" --explain net create lab --subnet 10.20.0.0/24
step "${C[@]}" ns add "$WEB"
step "${C[@]}" ns add "$DB"
step "${C[@]}" attach lab "$WEB"
step "${C[@]}" attach lab "$DB" --ip 10.20.0.50
step "${C[@]}" ns exec "$WEB" -- ping -c1 -W2 10.20.0.50
step "${C[@]}" ipam show lab
step "${C[@]}" fw show
step "${C[@]}" forward status
step "${C[@]}" --explain net create lan --driver macvlan --parent eth1 --subnet 192.168.50.0/24 \
    --gateway 192.168.50.1 --ip-range 192.168.50.64/27 --host-access
step "${C[@]}" attach lan "$WEB" --ifname eth1
step "${C[@]}" ns exec "$HOST" -- ping -c1 -W2 192.168.50.65   # the host reaches its macvlan container via the shim
step "${C[@]}" net rm lan --force
step "${C[@]}" detach lab "$DB"
step "${C[@]}" detach lab "$WEB"
step "${C[@]}" net rm lab
step "${C[@]}" ns rm "$WEB"
step "${C[@]}" ns rm "$DB"
echo
echo "demo done: everything it made is gone"
