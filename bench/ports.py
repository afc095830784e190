"""Benchmark: published ports, cnictl against iptables-style linear rules and the reference portmap chain.

Part 1, one more port mapping by the number of mappings already present (--sizes, default 1,1000,10000):
* cnictl:     one library process (Host(netns=H).enter()), a network with one attached namespace; the
              mappings are pre-published with ops.port_publish in ranges of 1,000 ports ("A-B:A-B"), then
              20 successive new single ports ("P:80") are published, each timed, and unpublished again
              (timed too). Also timed with a warm libnftables context in the same namespace: the raw
              element insertion alone (any-addr + any-port, one transaction), the batch port_publish sends,
              and `get element` of the last mapping (nft exec and libnftables).
* iptables:   N DNAT rules in one chain (iptables-nft, pre-populated with one iptables-nft-restore --noflush),
              10 successive `iptables-nft -t nat -A` execs and 10 `-C` checks of the last rule.
* nft rules:  N `tcp dport P dnat to ...` rules in one nft chain (pre-populated with one `nft -f`),
              10 successive `nft add rule` execs.

Part 2, attach with one published port (--n, default 1,500), each variant in its own host namespace:
* library:    ops.attach(host, net, ns, ports=["P:80"]) / ops.detach in one process; N below 20 runs in
              rounds on fresh namespaces (N=1: 20 rounds of attach one / detach one).
* cli:        a few `cnictl attach -p` / `cnictl detach` execs (wall time), taken on the library's network
              while its N namespaces are attached (for N below 20: on the empty network).
* reference:  bridge(isGateway, ipMasq) + host-local, then portmap (snat, runtimeConfig.portMappings), exec'd
              as a runtime does (ADD in order with prevResult chained, DEL in reverse with the final result),
              from a child Python process that setns'd into the reference host namespace.

Isolation: everything happens in namespaces named bp<pid>{h,i,n,a,r,t,c<i>,w<i>}; the root network
namespace is never changed. State, IPAM and host-local directories live in a temporary directory. All
of it is removed in `finally`, also on Ctrl-C and SIGTERM.

Run as root:  .venv/bin/python bench/ports.py [--quick] [--sizes 1,1000,10000] [--n 1,500] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from attach import (
    check_distinct,
    check_ipam,
    summarize,
    verify_attached,
    verify_detached,
)

# helpers shared with the attach benchmark (bench/attach.py and bench/harness.py, next to this file)
from harness import (
    NETNS_DIR,
    BenchError,
    Driver,
    command_output,
    guarded_run,
    ms_since,
    root_snapshot,
    run_worker,
    sigterm_as_interrupt,
)
from harness import environment as harness_environment

CNI_DIR = "/usr/lib/cni"
CNI_PATH_ENV = "/usr/sbin:/usr/bin:/sbin:/bin"
LIB_NET = "bench"
LIB_SUBNET = "10.99.0.0/16"
LIB_GATEWAY = "10.99.0.1"
REF_NET = "refnet"
REF_BRIDGE = "refbr0"
REF_SUBNET = "10.98.0.0/16"
REF_GATEWAY = "10.98.0.1"
NFT_TABLE = ("inet", "cnictl")
LINEAR_CHAIN = "CNICTL-DNAT"  # iptables
LINEAR_TABLE = "bplinear"  # nft: table ip bplinear, chain pre

PREFILL_PORT = 10000  # part 1: cnictl mappings take host ports from here up
CHUNK = 1000  # ports per pre-populating port_publish
RAW_PORT = 65100  # part 1: raw element insertions (tcp . 65100+j), never published by cnictl
BATCH_PORT = 65300  # part 1: the batch port_publish sends, replayed through libnftables
ATTACH_PORT = 20000  # part 2: container i publishes 20000+i
WARM_PORT = 38000
CLI_PORT = 39000
MAX_SIZE = 50000
MAX_N = 5000

INSERT_SAMPLES = 20
LINEAR_SAMPLES = 10
LOOKUP_SAMPLES = 10
WARMUP = 3
MIN_SAMPLES = 20
CLI_SAMPLES = 5

TARGET_INSERT_GROWTH = 1.5  # cnictl insertion at the largest size / at the smallest
TARGET_SPEEDUP_N1 = 10.0  # reference attach / library attach at N=1
TARGET_SPEEDUP_N500 = 30.0  # ... at N >= 500





# ------------------------------------------------------------------------------------------------
# helpers for the workers
# ------------------------------------------------------------------------------------------------
def run_cmd(argv: list[str], stdin: str | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    return ms_since(t0), proc


def must(argv: list[str], stdin: str | None = None) -> tuple[float, str]:
    ms, proc = run_cmd(argv, stdin)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv[:6])} ... failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
    return ms, proc.stdout


def true_floor(reps: int = 30) -> list[float]:
    """The exec floor of the calling process: subprocess.run of /bin/true."""
    return [run_cmd(["/bin/true"])[0] for _ in range(reps)]


def enter_for_good(name: str) -> None:
    """Move this (single-threaded) worker into namespace *name*; exec'd children start there."""
    from cnictl.netns import NetnsRef, enter

    os.close(enter(NetnsRef.parse(name)))


def read_map(nft: Any, name: str) -> dict[tuple[str, int], Any]:
    """Elements of map `inet cnictl <name>` as {(proto, port): value}; {} when the table or map is gone."""
    rc, out, _err = nft.json_cmd({"nftables": [{"list": {"map": {"family": NFT_TABLE[0], "table": NFT_TABLE[1],
                                                                  "name": name}}}]})
    if rc != 0:
        return {}
    elems: dict[tuple[str, int], Any] = {}
    for item in out.get("nftables", []):
        for key, value in item.get("map", {}).get("elem", []):
            proto, port = key["concat"]
            elems[(proto, int(port))] = value
    return elems


def check_elements(nft: Any, expected: dict[int, tuple[str, int]], what: str) -> list[str]:
    """The all-addresses maps hold exactly {tcp . host port: container ip / container port} for *expected*."""
    errors = []
    want_addr = {("tcp", p): ip for p, (ip, _cp) in expected.items()}
    want_port = {("tcp", p): cp for p, (_ip, cp) in expected.items()}
    for name, want in (("any-addr", want_addr), ("any-port", want_port)):
        have = read_map(nft, name)
        if have != want:
            extra = sorted(set(have) - set(want))[:3]
            missing = sorted(set(want) - set(have))[:3]
            wrong = [k for k in want if k in have and have[k] != want[k]][:3]
            errors.append(f"{what}: map {name} holds {len(have)} element(s), expected {len(want)} "
                          f"(extra {extra}, missing {missing}, wrong value {wrong})")
    return errors


def claims_held(state: Path) -> int:
    """Host-port claim files under the cnictl state directory (ports/<proto>/<port>/<address>)."""
    n = 0
    for proto in ("tcp", "udp"):
        d = state / "ports" / proto
        with contextlib.suppress(FileNotFoundError):
            for port in os.listdir(d):
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    n += len(os.listdir(d / port))
    return n


def check_claims(state: Path, expected: int, what: str) -> list[str]:
    held = claims_held(state)
    return [] if held == expected else [f"{what}: {held} host-port claim(s) under {state}/ports, expected {expected}"]


def tcp_check(container: str, addr: str, port: int) -> str | None:
    """From this namespace connect to addr:port; a listener on port 80 in *container* must answer. None if it did."""
    from cnictl.netns import entered

    with entered(f"{NETNS_DIR}/{container}"):
        srv = socket.socket()  # a socket belongs to the namespace it was created in
    try:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", 80))
        srv.listen(1)
        srv.settimeout(3)
        with socket.create_connection((addr, port), timeout=3) as cli:
            conn, _peer = srv.accept()
            with conn:
                conn.sendall(b"bench\n")
            got = cli.recv(16)
        return None if got == b"bench\n" else f"unexpected answer {got!r}"
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    finally:
        srv.close()


def cpu_seconds() -> tuple[float, float, float]:
    """(busy CPU-seconds of the whole machine, stolen CPU-seconds, CPU-seconds of this process and its waited children)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    own = sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / hz, v[7] / hz, own


def linear_ip(i: int) -> str:
    return f"10.97.{(i // 250) % 250}.{i % 250 + 1}"


# ------------------------------------------------------------------------------------------------
# workers: child processes started by the driver with `--worker SPEC.json`
# ------------------------------------------------------------------------------------------------
def worker_insert_cnictl(spec: dict[str, Any]) -> dict[str, Any]:
    """Part 1, cnictl: port_publish cost by the number of mappings, plus raw libnftables figures."""
    import nftables

    from cnictl import ops
    from cnictl.host import Host

    state = Path(spec["state"])
    target = spec["target"]
    host = Host(netns=spec["host"], state_dir=state).enter()
    res: dict[str, Any] = {"sizes": {}, "errors": []}
    errors: list[str] = res["errors"]
    try:
        ops.create_network(host, ops.NetworkRequest(name=LIB_NET, subnets=[LIB_SUBNET]))
        cip = ops.attach(host, LIB_NET, target).result["addresses"][0].split("/")[0]
        nft = nftables.Nftables()  # warm contexts of our own, in the host namespace
        nft.set_json_output(True)
        txt = nftables.Nftables()
        table, fam = NFT_TABLE[1], NFT_TABLE[0]

        def element_cmds(port: int, verb: str) -> list[dict[str, Any]]:
            key = {"concat": ["tcp", port]}
            out = []
            for name, value in (("any-addr", cip), ("any-port", 80)):
                elem = [key, value] if verb == "add" else key
                out.append({verb: {"element": {"family": fam, "table": table, "name": name, "elem": [elem]}}})
            return out

        def json_timed(cmds: list[dict[str, Any]], what: str) -> float:
            t0 = time.perf_counter()
            rc, _out, err = nft.json_cmd({"nftables": cmds})
            ms = ms_since(t0)
            if rc != 0:
                raise BenchError(f"libnftables {what}: {str(err).strip()[:300]}")
            return ms

        # the batch port_publish sends for one port (port infra re-added + 2 elements), if this cnictl has it
        batch_prefix: list[dict[str, Any]] | None = None
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            from cnictl.firewall import get_backend

            batch_prefix = list(get_backend(host.firewall_name).infra_commands()[0])

        # warm-up: one of each, untimed
        ops.port_publish(host, LIB_NET, target, f"{RAW_PORT - 1}:80")
        ops.port_unpublish(host, LIB_NET, target, f"{RAW_PORT - 1}:80")
        json_timed(element_cmds(RAW_PORT, "add"), "add element")
        json_timed(element_cmds(RAW_PORT, "delete"), "delete element")

        have = 0
        next_port = PREFILL_PORT
        for size in spec["sizes"]:
            r: dict[str, Any] = {"prefill": []}
            while have < size:  # top up in ranges of CHUNK ports ("A-B:A-B")
                k = min(CHUNK, size - have)
                text = f"{next_port}-{next_port + k - 1}:{next_port}-{next_port + k - 1}" if k > 1 else f"{next_port}:{next_port}"
                t0 = time.perf_counter()
                ops.port_publish(host, LIB_NET, target, text)
                r["prefill"].append([k, ms_since(t0)])
                have += k
                next_port += k
            expected = {p: (cip, p) for p in range(PREFILL_PORT, next_port)}
            errors.extend(check_elements(nft, expected, f"cnictl, {size} mappings"))
            errors.extend(check_claims(state, size, f"cnictl, {size} mappings"))
            last = next_port - 1

            # lookups of the last mapping: nft exec and warm libnftables
            r["get_cli_ms"], r["get_lib_ms"] = [], []
            for _ in range(LOOKUP_SAMPLES):
                ms, out = must(["nft", "get", "element", fam, table, "any-addr", f"{{ tcp . {last} }}"])
                r["get_cli_ms"].append(ms)
                if f"{last} : {cip}" not in out:
                    errors.append(f"nft get element tcp . {last}: unexpected output {out.strip()[:200]!r}")
                t0 = time.perf_counter()
                rc, out, err = txt.cmd(f"get element {fam} {table} any-addr {{ tcp . {last} }}")
                r["get_lib_ms"].append(ms_since(t0))
                if rc != 0 or f"{last} : {cip}" not in out:
                    errors.append(f"libnftables get element tcp . {last}: rc {rc}, {(out or err).strip()[:200]!r}")

            # cnictl: INSERT_SAMPLES successive new ports, then unpublish them (both timed)
            sample_ports = list(range(next_port, next_port + INSERT_SAMPLES))
            r["publish_ms"] = []
            for p in sample_ports:
                t0 = time.perf_counter()
                ops.port_publish(host, LIB_NET, target, f"{p}:80")
                r["publish_ms"].append(ms_since(t0))
            errors.extend(check_elements(nft, {**expected, **{p: (cip, 80) for p in sample_ports}},
                                         f"cnictl, {size} mappings + {INSERT_SAMPLES} published"))
            r["unpublish_ms"] = []
            for p in sample_ports:
                t0 = time.perf_counter()
                ops.port_unpublish(host, LIB_NET, target, f"{p}:80")
                r["unpublish_ms"].append(ms_since(t0))

            # raw element insertion with a warm context (2 elements, one transaction), then delete
            raw_ports = list(range(RAW_PORT, RAW_PORT + INSERT_SAMPLES))
            r["raw_ms"] = [json_timed(element_cmds(p, "add"), "add element") for p in raw_ports]
            r["raw_del_ms"] = [json_timed(element_cmds(p, "delete"), "delete element") for p in raw_ports]

            # the batch port_publish sends, replayed with the same warm context
            if batch_prefix is not None:
                batch_ports = list(range(BATCH_PORT, BATCH_PORT + INSERT_SAMPLES))
                r["batch_ms"] = [json_timed(batch_prefix + element_cmds(p, "add"), "publish batch") for p in batch_ports]
                for p in batch_ports:
                    json_timed(element_cmds(p, "delete"), "delete element")
            errors.extend(check_elements(nft, expected, f"cnictl, {size} mappings, after the samples"))
            errors.extend(check_claims(state, size, f"cnictl, {size} mappings, after the samples"))
            res["sizes"][str(size)] = r

        # detach with every mapping still published (timed once), then nothing may be left
        t0 = time.perf_counter()
        ops.detach(host, LIB_NET, target)
        res["detach_all_ms"] = ms_since(t0)
        res["detach_all_mappings"] = have
        errors.extend(check_elements(nft, {}, "cnictl, after detach"))
        errors.extend(check_claims(state, 0, "cnictl, after detach"))
        ops.delete_network(host, LIB_NET, force=True)
    finally:
        host.close()
    return res


def worker_insert_linear(spec: dict[str, Any]) -> dict[str, Any]:
    """Part 1, linear rules: iptables-nft DNAT rules in one chain, or nft `dnat to` rules in one chain."""
    enter_for_good(spec["host"])
    tool = spec["tool"]
    res: dict[str, Any] = {"sizes": {}, "errors": [], "true_ms": true_floor()}
    errors: list[str] = res["errors"]

    def rule_args(i: int) -> list[str]:
        return ["-p", "tcp", "--dport", str(PREFILL_PORT + i), "-j", "DNAT", "--to-destination", f"{linear_ip(i)}:80"]

    def nft_rule(i: int) -> str:
        return f"add rule ip {LINEAR_TABLE} pre tcp dport {PREFILL_PORT + i} dnat to {linear_ip(i)}:80"

    def count() -> int:
        if tool == "iptables":
            out = must(["iptables-nft-save", "-t", "nat"])[1]
            return sum(1 for line in out.splitlines() if line.startswith(f"-A {LINEAR_CHAIN} "))
        out = must(["nft", "list", "chain", "ip", LINEAR_TABLE, "pre"])[1]
        return sum(1 for line in out.splitlines() if "dnat to" in line)

    if tool == "iptables":
        must(["iptables-nft", "-t", "nat", "-N", LINEAR_CHAIN])
        must(["iptables-nft", "-t", "nat", "-A", "PREROUTING", "-j", LINEAR_CHAIN])
    else:
        must(["nft", "-f", "-"], f"add table ip {LINEAR_TABLE}\n"
                                 f"add chain ip {LINEAR_TABLE} pre {{ type nat hook prerouting priority dstnat; }}\n")
    have = 0
    for size in spec["sizes"]:
        r: dict[str, Any] = {}
        todo = range(have, size)
        if todo:
            if tool == "iptables":
                text = "*nat\n" + "".join(f"-A {LINEAR_CHAIN} {' '.join(rule_args(i))}\n" for i in todo) + "COMMIT\n"
                r["prefill_ms"] = must(["iptables-nft-restore", "--noflush"], text)[0]
            else:
                r["prefill_ms"] = must(["nft", "-f", "-"], "".join(nft_rule(i) + "\n" for i in todo))[0]
            r["prefill_rules"] = len(todo)
            have = size
        last = size - 1
        if tool == "iptables":  # the lookup a tool needs before it adds or deletes: -C of the last rule
            r["lookup_ms"] = []
            for _ in range(LOOKUP_SAMPLES):
                ms, proc = run_cmd(["iptables-nft", "-t", "nat", "-C", LINEAR_CHAIN, *rule_args(last)])
                r["lookup_ms"].append(ms)
                if proc.returncode != 0:
                    errors.append(f"iptables -C of rule {last} failed: {proc.stderr.strip()[:200]}")
        r["add_ms"] = []
        for i in range(have, have + LINEAR_SAMPLES):  # successive new rules
            if tool == "iptables":
                r["add_ms"].append(must(["iptables-nft", "-t", "nat", "-A", LINEAR_CHAIN, *rule_args(i)])[0])
            else:
                r["add_ms"].append(must(["nft", *nft_rule(i).split()])[0])
        have += LINEAR_SAMPLES
        r["rules_after"] = count()
        if r["rules_after"] != have:
            errors.append(f"{tool}: {r['rules_after']} rule(s) in the chain, expected {have}")
        res["sizes"][str(size)] = r
    return res


def worker_library(spec: dict[str, Any]) -> dict[str, Any]:
    """Part 2: attach/detach with one published port each, cnictl library, host namespace entered once."""
    import nftables

    from cnictl import ops
    from cnictl.host import Host

    mode = spec["mode"]  # cycle | attach | detach | none
    state = Path(spec["state"])
    host = Host(netns=spec["host"], state_dir=state).enter()
    ipam_dir = host.paths.ipam_root / LIB_NET
    nft = nftables.Nftables()  # for the checks only
    nft.set_json_output(True)
    res: dict[str, Any] = {"attach_ms": [], "detach_ms": [], "errors": [], "addresses": {}}
    errors: list[str] = res["errors"]
    try:
        if spec.get("create"):
            ops.create_network(host, ops.NetworkRequest(name=LIB_NET, subnets=[LIB_SUBNET]))
        for name, port in spec.get("warmup", []):
            ops.attach(host, LIB_NET, name, ports=[f"{port}:80"])
            ops.detach(host, LIB_NET, name)
        for rnd in spec.get("rounds", []):
            addresses: dict[str, str] = {}
            if mode in ("cycle", "attach"):
                for name, port in rnd:
                    t0 = time.perf_counter()
                    out = ops.attach(host, LIB_NET, name, ports=[f"{port}:80"])
                    res["attach_ms"].append(ms_since(t0))
                    addresses[name] = out.result["addresses"][0]
                res["addresses"].update(addresses)
                expected = {port: (addresses[name].split("/")[0], 80) for name, port in rnd}
                errors.extend(check_distinct(addresses, LIB_SUBNET, "library attach"))
                errors.extend(verify_attached(addresses, "library attach"))
                errors.extend(check_ipam(ipam_dir, len(rnd), "library attach"))
                errors.extend(check_elements(nft, expected, "library attach"))
                errors.extend(check_claims(state, len(rnd), "library attach"))
                if spec.get("tcp_check") and "tcp" not in res:
                    name, port = rnd[0]
                    res["tcp"] = tcp_check(name, LIB_GATEWAY, port)
                    if res["tcp"] is not None:
                        errors.append(f"library: TCP to {LIB_GATEWAY}:{port} (published by {name}) failed: {res['tcp']}")
            if mode in ("cycle", "detach"):
                for name, _port in rnd:
                    t0 = time.perf_counter()
                    ops.detach(host, LIB_NET, name)
                    res["detach_ms"].append(ms_since(t0))
                errors.extend(verify_detached([name for name, _ in rnd], "library detach"))
        if mode != "attach":  # nothing of any attach may be left
            errors.extend(check_ipam(ipam_dir, 0, "library, after detach"))
            errors.extend(check_elements(nft, {}, "library, after detach"))
            errors.extend(check_claims(state, 0, "library, after detach"))
        if spec.get("delete"):
            ops.delete_network(host, LIB_NET, force=True)
    finally:
        host.close()
    return res


def worker_check(spec: dict[str, Any]) -> dict[str, Any]:
    """Between CLI execs: addresses on eth0, and the maps hold exactly the expected elements."""
    import nftables

    errors = verify_attached(spec["attached"], spec["what"])
    enter_for_good(spec["host"])
    nft = nftables.Nftables()
    nft.set_json_output(True)
    expected = {int(p): (ip, 80) for p, ip in spec["elements"].items()}
    errors += check_elements(nft, expected, spec["what"])
    errors += check_claims(Path(spec["state"]), len(expected), spec["what"])
    return {"errors": errors}


def _ref_plugins(hl_dir: str) -> list[dict[str, Any]]:
    """The conflist of PERF.md section 1: bridge (isGateway, ipMasq) with host-local, then portmap (snat)."""
    return [
        {"type": "bridge", "bridge": REF_BRIDGE, "isGateway": True, "ipMasq": True,
         "ipam": {"type": "host-local", "dataDir": hl_dir, "ranges": [[{"subnet": REF_SUBNET}]],
                  "routes": [{"dst": "0.0.0.0/0"}]}},
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
    ]


def worker_reference(spec: dict[str, Any]) -> dict[str, Any]:
    """Exec bridge+host-local and portmap ADD/DEL from inside the reference host namespace."""
    import cnictl.netlink.client  # noqa: F401 - loaded before any timing (used by the checks between phases)

    enter_for_good(spec["host"])
    hl_dir = spec["hl"]
    plugins = _ref_plugins(hl_dir)
    ipam_dir = Path(hl_dir) / REF_NET
    res: dict[str, Any] = {"attach_ms": [], "detach_ms": [], "errors": [], "addresses": {},
                           "bridge_add_ms": [], "portmap_add_ms": [], "portmap_del_ms": [], "bridge_del_ms": []}
    errors: list[str] = res["errors"]

    def netconf(plugin: dict[str, Any], port: int, prev: dict[str, Any] | None) -> dict[str, Any]:
        conf: dict[str, Any] = {"cniVersion": "1.0.0", "name": REF_NET, **plugin}
        if plugin.get("capabilities", {}).get("portMappings"):
            conf["runtimeConfig"] = {"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]}
        if prev is not None:
            conf["prevResult"] = prev
        return conf

    def exec_plugin(command: str, name: str, conf: dict[str, Any]) -> tuple[float, dict[str, Any] | None]:
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": name, "CNI_NETNS": f"{NETNS_DIR}/{name}",
               "CNI_IFNAME": "eth0", "CNI_PATH": CNI_DIR, "PATH": CNI_PATH_ENV}
        data = json.dumps(conf).encode()
        t0 = time.perf_counter()
        proc = subprocess.run([f"{CNI_DIR}/{conf['type']}"], input=data, env=env, capture_output=True, check=False)
        ms = ms_since(t0)
        if proc.returncode != 0:
            raise BenchError(f"reference {conf['type']} {command} {name} failed ({proc.returncode}): "
                             f"{(proc.stdout or proc.stderr).decode()[:300]}")
        return ms, (json.loads(proc.stdout) if command == "ADD" else None)

    def add(name: str, port: int, timed: bool) -> dict[str, Any]:
        t0 = time.perf_counter()
        prev: dict[str, Any] | None = None
        parts = []
        for plugin in plugins:  # in order, each gets the previous plugin's result
            ms, prev = exec_plugin("ADD", name, netconf(plugin, port, prev))
            parts.append(ms)
        total = ms_since(t0)
        if timed:
            res["attach_ms"].append(total)
            res["bridge_add_ms"].append(parts[0])
            res["portmap_add_ms"].append(parts[1])
        assert prev is not None
        return prev

    def delete(name: str, port: int, final: dict[str, Any], timed: bool) -> None:
        t0 = time.perf_counter()
        parts = []
        for plugin in reversed(plugins):  # in reverse, each gets the cached final result
            parts.append(exec_plugin("DEL", name, netconf(plugin, port, final))[0])
        total = ms_since(t0)
        if timed:
            res["detach_ms"].append(total)
            res["portmap_del_ms"].append(parts[0])
            res["bridge_del_ms"].append(parts[1])

    def dnat_rules() -> dict[int, str]:
        out = must(["iptables-nft-save", "-t", "nat"])[1]
        found: dict[int, str] = {}
        for m in re.finditer(r"--dport (\d+) -j DNAT --to-destination ([0-9.]+:\d+)", out):
            found[int(m[1])] = m[2]
        return found

    res["true_ms"] = true_floor()
    for name, port in spec.get("warmup", []):
        delete(name, port, add(name, port, timed=False), timed=False)
    for rnd in spec["rounds"]:
        finals: dict[str, dict[str, Any]] = {}
        addresses: dict[str, str] = {}
        for name, port in rnd:
            finals[name] = add(name, port, timed=True)
            ips = finals[name].get("ips") or []
            addresses[name] = ips[0]["address"] if ips else "none"
        res["addresses"].update(addresses)
        errors.extend(check_distinct(addresses, REF_SUBNET, "reference ADD"))
        errors.extend(verify_attached(addresses, "reference ADD"))
        errors.extend(check_ipam(ipam_dir, len(rnd), "reference ADD"))
        want = {port: f"{addresses[name].split('/')[0]}:80" for name, port in rnd}
        have = dnat_rules()
        if have != want:
            errors.append(f"reference ADD: {len(have)} DNAT rule(s), expected {len(want)} "
                          f"(first differences: {sorted(set(have.items()) ^ set(want.items()))[:3]})")
        if spec.get("tcp_check") and "tcp" not in res:
            name, port = rnd[0]
            res["tcp"] = tcp_check(name, REF_GATEWAY, port)  # informational: not a correctness check of cnictl
        for name, port in rnd:
            delete(name, port, finals[name], timed=True)
        errors.extend(verify_detached([name for name, _ in rnd], "reference DEL"))
        errors.extend(check_ipam(ipam_dir, 0, "reference DEL"))
        left = dnat_rules()
        if left:
            errors.append(f"reference DEL: {len(left)} DNAT rule(s) left, for example {sorted(left.items())[:3]}")
    return res


WORKERS = {
    "insert_cnictl": worker_insert_cnictl,
    "insert_linear": worker_insert_linear,
    "library": worker_library,
    "check": worker_check,
    "reference": worker_reference,
}





# ------------------------------------------------------------------------------------------------
# the driver (root namespace: only creates/removes its own namespaces and starts processes)
# ------------------------------------------------------------------------------------------------
class Bench(Driver):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(f"bp{os.getpid()}", __file__, args.cnictl)
        self.args = args
        self._ours = re.compile(rf"{self.run_id}(?:[hinart]|[cw]\d+)")
        self.insert: dict[str, Any] = {}
        self.attach: dict[int, dict[str, Any]] = {}
        self.notes: dict[str, Any] = {}

    # ---- names ---------------------------------------------------------------------------------
    def ns(self, suffix: str) -> str:
        return f"{self.run_id}{suffix}"

    def container(self, i: int) -> str:
        return f"{self.run_id}c{i}"

    def ours(self, name: str) -> bool:
        return self._ours.fullmatch(name) is not None

    def cli(self, *argv: str, host: str, state: Path) -> tuple[float, str]:
        cmd = [self.cnictl, "--netns", host, "--state-dir", str(state), "--json", *argv]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNICTL_")}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        ms = ms_since(t0)
        if proc.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[:400]}")
        return ms, proc.stdout

    # ---- plan -------------------------------------------------------------------------------------
    def rounds_for(self, n: int) -> list[list[tuple[str, int]]]:
        reps = math.ceil(MIN_SAMPLES / n) if n < MIN_SAMPLES else 1
        return [[(self.container(r * n + i), ATTACH_PORT + r * n + i) for i in range(n)] for r in range(reps)]

    def warm(self) -> list[tuple[str, int]]:
        return [(f"{self.run_id}w{i}", WARM_PORT + i) for i in range(WARMUP)]

    def step(self, label: str, fn: Any, *a: Any) -> Any:
        """Run one step; also say how busy the machine was meanwhile (the VM is shared: other load shows here)."""
        print(f"{label} ...", end=" ", flush=True)
        c0, t0 = cpu_seconds(), time.perf_counter()
        out = fn(*a)
        wall = time.perf_counter() - t0
        busy, steal, own = (b - a for a, b in zip(c0, cpu_seconds(), strict=True))
        self.notes.setdefault("steps", []).append({"step": label, "wall_s": round(wall, 2), "cpus_busy": round(busy / wall, 2),
                                                   "cpus_this_run": round(own / wall, 2), "steal": round(steal / wall, 2)})
        print(f"{wall:.1f} s  (CPUs busy {busy / wall:.2f} of {os.cpu_count()}, this run's processes {own / wall:.2f}, "
              f"steal {steal / wall:.2f})", flush=True)
        time.sleep(self.args.settle)
        return out

    def run(self) -> None:
        parts = self.args.parts
        if "attach" in parts:  # first, so that creating them is long over when part 2 starts
            total = max(len(r) * len(r[0]) for r in (self.rounds_for(n) for n in self.args.n)) + CLI_SAMPLES
            print(f"run {self.run_id}: creating {total + WARMUP} container namespaces (untimed) ...", flush=True)
            self.ns_add([self.container(i) for i in range(total)] + [w for w, _ in self.warm()])
        # the kernel tears down deleted namespaces (and finishes creating new ones) in the background, which
        # measurably slows the next few ms-scale operations: every step starts after --settle seconds of quiet
        time.sleep(self.args.settle)
        if "insert" in parts:
            self.step(f"part 1: cnictl, {', '.join(map(str, self.args.sizes))} mappings", self.run_insert_cnictl)
            for tool in ("iptables", "nft"):
                self.step(f"part 1: {tool} linear rules", self.run_insert_linear, tool)
        if "attach" in parts:
            for n in self.args.n:
                self.attach[n] = {}
                self.step(f"part 2: N={n}: library + cli", self.run_library_and_cli, n)
                self.step(f"part 2: N={n}: reference", self.run_reference, n)

    # ---- part 1 -----------------------------------------------------------------------------------
    def run_insert_cnictl(self) -> None:
        host, target = self.ns("h"), self.ns("t")
        self.ns_add([host, target])
        try:
            self.insert["cnictl"] = self.worker("insert_cnictl", host=host, target=target,
                                                state=str(self.tmp / "insert"), sizes=self.args.sizes)
        finally:
            self.ns_del([host, target])

    def run_insert_linear(self, tool: str) -> None:
        host = self.ns("i" if tool == "iptables" else "n")
        self.ns_add([host])
        try:
            self.insert[tool] = self.worker("insert_linear", host=host, tool=tool, sizes=self.args.sizes)
        finally:
            self.ns_del([host])

    # ---- part 2 -----------------------------------------------------------------------------------
    def run_library_and_cli(self, n: int) -> None:
        host = self.ns("a")
        state = self.tmp / f"lib-{n}"
        rounds = self.rounds_for(n)
        cycle = len(rounds) > 1
        self.ns_add([host])
        try:
            a = self.worker("library", host=host, state=str(state), create=True, warmup=self.warm(),
                            mode="cycle" if cycle else "attach", rounds=rounds, tcp_check=True)
            # the CLI: a few execs on the same network, while the library's N namespaces are attached (N >= 20)
            attached = {} if cycle else {str(port): a["addresses"][name].split("/")[0] for name, port in rounds[0]}
            base = len(rounds) * len(rounds[0])
            samples = [(self.container(base + j), CLI_PORT + j) for j in range(CLI_SAMPLES)]
            cli_attach, cli_detach, cli_addr = [], [], {}
            for name, port in samples:
                ms, out = self.cli("attach", LIB_NET, name, "-p", f"{port}:80", host=host, state=state)
                cli_attach.append(ms)
                cli_addr[name] = json.loads(out)["addresses"][0]
            self.errors += check_distinct({**a["addresses"], **cli_addr} if not cycle else cli_addr, LIB_SUBNET,
                                          "cli attach")
            self.worker("check", what="cli attach", host=host, state=str(state), attached=cli_addr,
                        elements={**attached, **{str(p): cli_addr[nm].split("/")[0] for nm, p in samples}})
            for name, _port in samples:
                cli_detach.append(self.cli("detach", LIB_NET, name, host=host, state=state)[0])
            b = self.worker("library", host=host, state=str(state), warmup=self.warm()[:1],
                            mode="none" if cycle else "detach", rounds=[] if cycle else rounds, delete=True)
        finally:
            self.ns_del([host])
        self.attach[n]["library"] = {"attach_ms": a["attach_ms"], "detach_ms": a["detach_ms"] + b["detach_ms"],
                                     "rounds": len(rounds), "tcp": a.get("tcp", "not run")}
        self.attach[n]["cli"] = {"attach_ms": cli_attach, "detach_ms": cli_detach, "rounds": CLI_SAMPLES,
                                 "occupancy": 0 if cycle else n}

    def run_reference(self, n: int) -> None:
        host = self.ns("r")
        rounds = self.rounds_for(n)
        self.ns_add([host])
        try:
            res = self.worker("reference", host=host, hl=str(self.tmp / f"ref-{n}" / "hl"), warmup=self.warm(),
                              rounds=rounds, tcp_check=True)
        finally:
            self.ns_del([host])
        self.attach[n]["reference"] = {k: v for k, v in res.items() if k not in ("errors", "addresses")}
        self.attach[n]["reference"]["rounds"] = len(rounds)

    # ---- cleanup ----------------------------------------------------------------------------------



# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 10 else f"{v:.1f}"


def med(samples: list[float] | None) -> float | None:
    return statistics.median(samples) if samples else None


INSERT_ROWS = [
    # (section, label, source, key)
    ("insert", "cnictl ops.port_publish, one new port", "cnictl", "publish_ms"),
    ("insert", "  libnftables: port infra + 2 elements (1)", "cnictl", "batch_ms"),
    ("insert", "libnftables add element (2 maps), warm ctx", "cnictl", "raw_ms"),
    ("insert", "iptables-nft -t nat -A, one exec", "iptables", "add_ms"),
    ("insert", "nft add rule (linear chain), one exec", "nft", "add_ms"),
    ("lookup", "iptables-nft -t nat -C of the last rule", "iptables", "lookup_ms"),
    ("lookup", "nft get element of the last mapping, exec", "cnictl", "get_cli_ms"),
    ("lookup", "libnftables get element, warm ctx", "cnictl", "get_lib_ms"),
    ("remove", "cnictl ops.port_unpublish, one port", "cnictl", "unpublish_ms"),
    ("remove", "libnftables delete element (2 maps)", "cnictl", "raw_del_ms"),
]


def build_report(bench: Bench) -> dict[str, Any]:
    sizes = [str(s) for s in bench.args.sizes]
    checks: list[dict[str, Any]] = []

    def add_check(label: str, value: float | None, op: str, limit: float) -> None:
        ok = None if value is None else (value >= limit if op == ">=" else value <= limit)
        checks.append({"check": label, "value": value, "target": f"{op} {limit:g}x", "pass": ok})

    insert_rows = []
    for section, label, source, key in INSERT_ROWS:
        per = bench.insert.get(source, {}).get("sizes", {})
        meds = {s: med(per.get(s, {}).get(key)) for s in sizes}
        lo, hi = meds.get(sizes[0]), meds.get(sizes[-1])
        n = len(per.get(sizes[0], {}).get(key) or [])
        insert_rows.append({"section": section, "label": label, "source": source, "key": key, "n": n,
                            "median_ms": meds, "growth": hi / lo if lo and hi and len(sizes) > 1 else None})
    if len(sizes) > 1:
        row = insert_rows[0]
        add_check(f"cnictl port_publish, {sizes[-1]} / {sizes[0]} mappings", row["growth"], "<=", TARGET_INSERT_GROWTH)

    attach_table: dict[str, dict[str, Any]] = {}
    for n, per in bench.attach.items():
        attach_table[str(n)] = {}
        for variant, res in per.items():
            positional = res["rounds"] == 1
            entry = {k: v for k, v in res.items() if not k.endswith("_ms")}
            entry["attach"] = summarize(res["attach_ms"], positional and variant != "cli")
            entry["detach"] = summarize(res["detach_ms"], positional and variant != "cli")
            for k, v in res.items():
                if k.endswith("_ms"):
                    entry[k] = [round(x, 3) for x in v]
            attach_table[str(n)][variant] = entry
    for n in sorted(bench.attach):
        ref = attach_table[str(n)].get("reference", {}).get("attach", {}).get("median")
        lib = attach_table[str(n)].get("library", {}).get("attach", {}).get("median")
        ratio = ref / lib if ref and lib else None
        if n == 1:
            add_check("reference chain / library attach -p, N=1", ratio, ">=", TARGET_SPEEDUP_N1)
        elif n >= 500:
            add_check(f"reference chain / library attach -p, N={n}", ratio, ">=", TARGET_SPEEDUP_N500)
        else:
            checks.append({"check": f"reference chain / library attach -p, N={n}", "value": ratio,
                           "target": "(none)", "pass": None})
    return {"insert": {"sizes": sizes, "rows": insert_rows, "raw": bench.insert}, "attach": attach_table,
            "targets": checks}


def print_report(bench: Bench, report: dict[str, Any], env: dict[str, Any]) -> None:
    p = print
    p("")
    p(f"cnictl published-ports benchmark  run {bench.run_id}  kernel {env['kernel']}  {env['cpus']} CPUs  "
      f"load {env['load_start']} -> {env['load_end']}  {env['started']}")
    p(f"tools: {env['nft']}, {env['iptables']}, containernetworking-plugins {env['cni_plugins']}")
    ins = report["insert"]
    sizes = ins["sizes"]
    raw = ins["raw"]
    if raw:
        p("")
        p("1. One more port mapping, by the number of mappings already present (ms, median)")
        p(f"   cnictl: {INSERT_SAMPLES} successive new ports P:80 on one attachment (existing N..N+{INSERT_SAMPLES - 1}), "
          "each then unpublished (timed: 'remove'); a mapping is 2 map elements (any-addr, any-port).")
        p(f"   linear rules: {LINEAR_SAMPLES} successive new rules (existing N..N+{LINEAR_SAMPLES - 1}); lookups: "
          f"{LOOKUP_SAMPLES} each, at exactly N.")
        hdr = f"   {'':<7}{'method':<46}{'n':>3}" + "".join(f"{s:>10}" for s in sizes) + f"{sizes[-1] + '/' + sizes[0]:>13}"
        p(hdr)
        p("   " + "-" * (len(hdr) - 3))
        for row in ins["rows"]:
            if not any(v is not None for v in row["median_ms"].values()):
                continue
            growth = "-" if row["growth"] is None else f"{row['growth']:.2f}x"
            p(f"   {row['section']:<7}{row['label']:<46}{row['n']:>3}"
              + "".join(f"{fmt(row['median_ms'][s]):>10}" for s in sizes) + f"{growth:>13}")
        p("   (1) for comparison: infra_commands() (maps, the 3 port chains flushed and their rules added again) plus the")
        p("       2 elements, through a warm context; NftPublish sent this before it was changed to send only the elements.")
        c = raw.get("cnictl", {})
        pre = [ms * CHUNK / k for s in sizes for k, ms in c.get("sizes", {}).get(s, {}).get("prefill", []) if k >= CHUNK // 2]
        ipt = {s: raw.get("iptables", {}).get("sizes", {}).get(s, {}) for s in sizes}
        nft = {s: raw.get("nft", {}).get("sizes", {}).get(s, {}) for s in sizes}
        p(f"   pre-populating: cnictl port_publish of a {CHUNK}-port range {fmt(med(pre))} ms (median of {len(pre)}, "
          "scaled to the range size); "
          + "; ".join(f"{s}: iptables-nft-restore {fmt(ipt[s].get('prefill_ms'))} ms, nft -f {fmt(nft[s].get('prefill_ms'))} ms"
                      f" ({ipt[s].get('prefill_rules', 0)} rules)" for s in sizes if ipt[s].get("prefill_rules")))
        if "detach_all_ms" in c:
            p(f"   cnictl detach of the attachment holding all {c['detach_all_mappings']} mappings: "
              f"{fmt(c['detach_all_ms'])} ms (once)")
        floor = raw.get("iptables", {}).get("true_ms")
        if floor:
            p(f"   exec floor: /bin/true from the linear-rules worker {fmt(med(floor))} ms")
    att = report["attach"]
    if att:
        p("")
        p("2. Attach with one published port (ms per namespace; N<20 runs in rounds of N on fresh namespaces)")
        p("   library: ops.attach(..., ports=['P:80']) in one process; cli: `cnictl attach -p` wall time "
          f"({CLI_SAMPLES} samples, taken with N namespaces attached; cli* = at occupancy N);")
        p("   reference: bridge(isGateway, ipMasq)+host-local then portmap(snat), exec'd from a process setns'd into "
          "its host namespace; DEL runs portmap then bridge.")
        hdr = f"   {'N':>5}  {'variant':<10} {'n':>4}  {'attach':>8} {'p90':>8} {'first10%':>9} {'last10%':>8}  " \
              f"{'detach':>8} {'p90':>8} {'first10%':>9} {'last10%':>8}"
        p(hdr)
        p("   " + "-" * (len(hdr) - 3))
        for n, per in att.items():
            for variant in ("library", "cli", "reference"):
                r = per.get(variant)
                if r is None:
                    continue
                a, d = r["attach"], r["detach"]
                name = variant + ("*" if r.get("occupancy") else "")
                p(f"   {n:>5}  {name:<10} {a['n']:>4}  {fmt(a['median']):>8} {fmt(a['p90']):>8} {fmt(a['first10']):>9} "
                  f"{fmt(a['last10']):>8}  {fmt(d['median']):>8} {fmt(d['p90']):>8} {fmt(d['first10']):>9} "
                  f"{fmt(d['last10']):>8}")
        for n, per in att.items():
            r = per.get("reference")
            if r:
                p(f"   reference N={n} per plugin (median): ADD bridge {fmt(med(r.get('bridge_add_ms')))} + portmap "
                  f"{fmt(med(r.get('portmap_add_ms')))} ms; DEL portmap {fmt(med(r.get('portmap_del_ms')))} + bridge "
                  f"{fmt(med(r.get('bridge_del_ms')))} ms; /bin/true from that process {fmt(med(r.get('true_ms')))} ms")
        tcp = [(n, v, per[v].get("tcp")) for n, per in att.items() for v in ("library", "reference") if v in per]
        p("   TCP through the published port from the host namespace to the gateway address: "
          + ", ".join(f"{v} N={n} {'ok' if t is None else t}" for n, v, t in tcp))
    p("")
    p("targets (they do not change the exit status)")
    for c in report["targets"]:
        verdict = "info" if c["target"] == "(none)" else "n/a" if c["pass"] is None else ("PASS" if c["pass"] else "FAIL")
        value = "-" if c["value"] is None else f"{c['value']:.2f}x"
        p(f"  {c['check']:<52} {value:>9}  target {c['target']:<8} {verdict}")


def environment() -> dict[str, Any]:
    return harness_environment(
        cni_plugins=command_output("dpkg-query", "-W", "-f", "${Version}", "containernetworking-plugins") or "?",
        nft=command_output("nft", "--version") or "?",
        iptables=command_output("iptables-nft", "--version") or "?",
    )


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------
def _ints(text: str, what: str, ap: argparse.ArgumentParser, limit: int) -> list[int]:
    try:
        values = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        ap.error(f"bad {what} {text!r}: give integers such as 1,1000")
    if not values or values[0] < 1 or values[-1] > limit:
        ap.error(f"{what} needs integers from 1 to {limit}")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,1000,10000", help="part 1: numbers of existing mappings (default 1,1000,10000)")
    ap.add_argument("--n", default="1,500", help="part 2: numbers of attached namespaces (default 1,500)")
    ap.add_argument("--quick", action="store_true", help="sizes 1,1000 and N 1,50 (overrides --sizes and --n)")
    ap.add_argument("--parts", default="insert,attach", help="subset of insert,attach (default both)")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait before each step (default 5)")
    ap.add_argument("--cnictl", help="cnictl executable (default: next to this Python)")
    ap.add_argument("--json", metavar="FILE", help="write every figure (and raw samples) to FILE")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return args
    args.sizes = _ints("1,1000" if args.quick else args.sizes, "--sizes", ap, MAX_SIZE)
    args.n = _ints("1,50" if args.quick else args.n, "--n", ap, MAX_N)
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    if not args.parts or any(x not in ("insert", "attach") for x in args.parts):
        ap.error("--parts: choose from insert,attach")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args.worker, WORKERS)
    if os.geteuid() != 0:
        print("ports.py: needs root (creates network namespaces)", file=sys.stderr)
        return 2
    needed = [f"{CNI_DIR}/bridge", f"{CNI_DIR}/host-local", f"{CNI_DIR}/portmap"] if "attach" in args.parts else []
    needed += [shutil.which(t) or t for t in ("nft", "iptables-nft", "iptables-nft-restore", "iptables-nft-save")]
    missing = [t for t in needed if not os.access(t, os.X_OK)]
    if missing:
        print(f"ports.py: missing {', '.join(missing)} (apt-get install containernetworking-plugins nftables iptables)",
              file=sys.stderr)
        return 2

    sigterm_as_interrupt()
    env = environment()
    before = root_snapshot()
    bench = Bench(args)
    if "attach" in args.parts and not os.access(bench.cnictl, os.X_OK):
        print(f"ports.py: {bench.cnictl} is not executable (give --cnictl PATH)", file=sys.stderr)
        shutil.rmtree(bench.tmp, ignore_errors=True)
        return 2
    t_start = time.perf_counter()
    status, fatal, problems = guarded_run(bench.run, bench.cleanup, before)
    env["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    env["wall_s"] = round(time.perf_counter() - t_start, 1)
    report = build_report(bench)
    print_report(bench, report, env)
    print("")
    if fatal:
        print(f"RUN STOPPED: {fatal}")
    if bench.errors:
        print(f"correctness: {len(bench.errors)} violation(s):")
        for e in bench.errors[:30]:
            print(f"  {e}")
    else:
        print(("correctness (in the phases that ran): " if fatal else "correctness: ")
              + "every map, claim and rule count matched after each phase; every attach got a distinct "
              "address on eth0; after detach no eth0, map element, host-port claim or reservation is left: OK")
    if problems:
        print("cleanup: PROBLEMS: " + "; ".join(problems))
    else:
        print(f"cleanup: all {len(bench.created)} namespaces of this run and {bench.tmp} removed; root namespace "
              f"links, routes, nft ruleset and ip_forward={before['ip_forward']} unchanged: OK  (wall {env['wall_s']} s)")
    if args.json:
        doc = {"environment": env,
               "params": {"sizes": args.sizes, "n": args.n, "parts": args.parts, "insert_samples": INSERT_SAMPLES,
                          "linear_samples": LINEAR_SAMPLES, "lookup_samples": LOOKUP_SAMPLES, "warmup": WARMUP,
                          "min_samples": MIN_SAMPLES, "cli_samples": CLI_SAMPLES, "chunk": CHUNK},
               **report, "steps": bench.notes.get("steps", []), "correctness_errors": bench.errors,
               "cleanup_problems": problems, "stopped": fatal}
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json}")
    if status == 0 and (bench.errors or problems):
        status = 1
    return status


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
