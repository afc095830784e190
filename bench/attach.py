"""Benchmark: attach network namespaces to a cnictl bridge network, against the reference CNI plugins.

For each N (default 1, 100, 500) and each variant, attach N network namespaces one after another,
then detach them all, timing every single operation:

* library:   one Python process enters the host namespace once (cnictl.host.Host) and calls
             cnictl.ops.attach / cnictl.ops.detach; time per call (perf_counter).
* cli:       one `cnictl attach` / `cnictl detach` exec per namespace; wall time per exec. Only up to
             --cli-max namespaces are timed; for a larger N the first N - cli_max are attached by the
             library (untimed) and the last cli_max attaches (and their detaches) are timed as a sample.
* reference: /usr/lib/cni/bridge + host-local (isGateway, ipMasq) exec'd as a runtime does (CNI_COMMAND
             ADD/DEL, netconf on stdin, DEL with prevResult = ADD result). The exec loop runs in a child
             Python process that has setns'd into the reference host namespace, so no `ip netns exec` is
             paid per call; the cost of `ip netns exec <ns> /bin/true` is still measured and shown.
* cli-port:  `cnictl attach NET NS -p HOSTPORT:80` / `cnictl detach` execs, each namespace its own host port
             (sampled like cli; the library's prefill publishes a port per namespace too).
* chain:     the reference chain with one published port, as libcni runs it: ADD bridge (as reference), then
             portmap (snat) with prevResult = bridge's result and runtimeConfig.portMappings = the one port;
             DEL portmap then bridge, each with the final result. The attach figure is both ADDs together.
* library-nojournal: as library at N=1, with cnictl's crash-safety journal switched off in the worker
             (cnictl.journal.ENABLED = False): the journal's cost is library / library-nojournal.

Memory (--memory alone: only these; the default run and --quick include them; --no-memory leaves them out):
the peak RSS of whole `cnictl attach` processes (each one's own wait4 ru_maxrss, harness.run_measured), and the peak RSS (VmHWM)
of one library worker process holding 1,000 attachments (detached again afterwards).

N below 20 is repeated in rounds on fresh namespaces (N=1: 20 rounds of attach 1 / detach 1), so its
median is not a single sample. Creating the namespaces is never part of a timed attach.

Isolation: everything happens in namespaces named bn<pid>{h,j,k,p,r,m,x,c<i>,w<i>} (cnictl hosts, CLI hosts,
reference hosts, memory host, containers, warm-up containers); the root network namespace is never changed.
State and IPAM live in a temporary directory. All of it is removed in `finally`, also on Ctrl-C.

Run as root:  .venv/bin/python bench/attach.py [--quick] [--sizes 1,100,500] [--cli-max 100] [--memory | --no-memory]
              [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import (
    NETNS_DIR,
    BenchError,
    Driver,
    command_output,
    guarded_run,
    ms_since,
    proc_status,
    root_snapshot,
    run_measured,
    run_worker,
    sigterm_as_interrupt,
    spawn_floor_kib,
)
from harness import environment as harness_environment

CNI_DIR = "/usr/lib/cni"
CNI_PATH_ENV = "/usr/sbin:/usr/bin:/sbin:/bin"
LIB_NET = "bench"
LIB_SUBNET = "10.99.0.0/16"
REF_NET = "refnet"
REF_BRIDGE = "refbr0"
REF_SUBNET = "10.98.0.0/16"
WARMUP = 3
MIN_SAMPLES = 20  # an N below this is repeated in rounds on fresh namespaces
VARIANTS = ("library", "library-nojournal", "cli", "reference", "cli-port", "chain")
PORT_BASE = 20000  # container i publishes host port PORT_BASE + i (cli-port, chain)

# targets: (key, label, comparison, threshold)
TARGET_REF_OVER_LIB = 5.0
TARGET_LIB_GROWTH = 1.2
TARGET_DETACH_OVER_DEL = 0.5
TARGET_CLI_ATTACH_MS = 300.0
TARGET_HELP_MS = 100.0
TARGET_CLI_OVER_CHAIN_N1 = 1.5  # cnictl attach -p (whole process) / reference chain with one port, N=1
TARGET_CLI_OVER_CHAIN_N500 = 1.0  # the same at N >= 500
TARGET_JOURNAL_COST = 1.10  # library attach N=1 with the crash-safety journal / without it
TARGET_CLI_PEAK_RSS_MIB = 60.0  # one whole `cnictl attach` process
TARGET_LIB_PEAK_RSS_MIB = 150.0  # one library process holding MEMORY_N attachments
MEMORY_N = 1000  # attachments held by the library process of the memory figures
MEMORY_CLI_RUNS = 5  # `cnictl attach` processes measured, with and without -p each





# ------------------------------------------------------------------------------------------------
# small helpers shared by the driver and the workers
# ------------------------------------------------------------------------------------------------
def reservations(directory: Path) -> list[str]:
    """Reservation files (named by an IP address) in a host-local directory."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            continue
        out.append(name)
    return sorted(out)


def check_distinct(addresses: dict[str, str], subnet: str, what: str) -> list[str]:
    """Every namespace got an address, inside the subnet, and no two share one."""
    errors = []
    net = ipaddress.ip_network(subnet)
    seen: dict[str, str] = {}
    for name, cidr in addresses.items():
        ip = cidr.split("/")[0]
        if ipaddress.ip_address(ip) not in net:
            errors.append(f"{what}: {name} got {cidr}, outside {subnet}")
        if ip in seen:
            errors.append(f"{what}: {name} and {seen[ip]} both got {ip}")
        seen[ip] = name
    return errors


def verify_attached(expected: dict[str, str], what: str) -> list[str]:
    """eth0 of every namespace carries the address its attach reported (read with a fresh netlink socket)."""
    from cnictl.netlink.client import Netlink

    errors = []
    for name, cidr in expected.items():
        with Netlink(f"{NETNS_DIR}/{name}") as nl:
            found = [c for _ifname, c in nl.addresses("eth0")]
        if cidr not in found:
            errors.append(f"{what}: {name}/eth0 has {found or 'no address'}, attach reported {cidr}")
    return errors


def verify_detached(names: list[str], what: str) -> list[str]:
    """No eth0 is left in any namespace."""
    from cnictl.netlink.client import Netlink

    errors = []
    for name in names:
        with Netlink(f"{NETNS_DIR}/{name}") as nl:
            if nl.link_index("eth0") is not None:
                errors.append(f"{what}: {name} still has eth0 after detach")
    return errors


def check_ipam(directory: Path, expected: int, what: str) -> list[str]:
    held = reservations(directory)
    if len(held) != expected:
        shown = ", ".join(held[:5]) + (" ..." if len(held) > 5 else "")
        return [f"{what}: {directory} holds {len(held)} reservation(s), expected {expected} ({shown})"]
    return []


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ------------------------------------------------------------------------------------------------
# workers: child processes started by the driver with `--worker SPEC.json`
# ------------------------------------------------------------------------------------------------
def journal_setting(off: bool) -> str:
    """Switch cnictl's crash-safety journal off (*off*) in this process, before any plan runs; what the process runs
    with: "on", "off", or "n/a: why" (no cnictl.journal, or no ENABLED flag in it: the journal cannot be compared)."""
    try:
        import cnictl.journal as journal
    except ImportError as e:
        return f"n/a: cnictl.journal cannot be imported ({e})"
    if not hasattr(journal, "ENABLED"):
        return "n/a: cnictl.journal has no ENABLED flag"
    if off:
        setattr(journal, "ENABLED", False)  # noqa: B010 - a flag another module may not declare yet
    return "on" if getattr(journal, "ENABLED") else "off"  # noqa: B009


def worker_library(spec: dict[str, Any]) -> dict[str, Any]:
    """Attach/detach with the cnictl library in one process, with the host namespace entered once."""
    from cnictl import ops
    from cnictl.host import Host

    mode = spec["mode"]  # cycle | attach | detach
    journal = journal_setting(off=spec.get("journal") is False)
    host = Host(netns=spec["host"], state_dir=spec["state"]).enter()
    ipam_dir = host.paths.ipam_root / LIB_NET
    res: dict[str, Any] = {"attach_ms": [], "detach_ms": [], "errors": [], "fd_peak": 0, "journal": journal}
    try:
        if spec.get("create"):
            ops.create_network(host, ops.NetworkRequest(name=LIB_NET, subnets=[LIB_SUBNET]))
        if spec.get("memory"):
            res["mem_start"] = proc_status("VmRSS", "VmHWM")
        for name in spec.get("warmup", []):
            ops.attach(host, LIB_NET, name)
            ops.detach(host, LIB_NET, name)
        ports: dict[str, int] = spec.get("ports", {})
        for names in spec["rounds"]:
            addresses: dict[str, str] = {}
            if mode in ("cycle", "attach"):
                for name in names:
                    t0 = time.perf_counter()
                    out = ops.attach(host, LIB_NET, name, ports=[f"{ports[name]}:80"] if name in ports else [])
                    res["attach_ms"].append(ms_since(t0))
                    addresses[name] = out.result["addresses"][0]
                if spec.get("memory"):  # all of the round attached, before the checks open their own sockets
                    res["mem"] = {**proc_status("VmRSS", "VmHWM"), "attached": len(names)}
                res["fd_peak"] = max(res["fd_peak"], open_fds())
                res["errors"] += check_distinct(addresses, LIB_SUBNET, "library attach")
                if spec.get("verify", True):
                    res["errors"] += verify_attached(addresses, "library attach")
                    res["errors"] += check_ipam(ipam_dir, spec.get("prefilled", 0) + len(names), "library attach")
            if mode in ("cycle", "detach"):
                for name in names:
                    t0 = time.perf_counter()
                    ops.detach(host, LIB_NET, name)
                    res["detach_ms"].append(ms_since(t0))
                if spec.get("verify", True):
                    res["errors"] += verify_detached(names, "library detach")
                    res["errors"] += check_ipam(ipam_dir, spec.get("remaining", 0), "library detach")
            res.setdefault("addresses", {}).update(addresses)
        if spec.get("delete"):
            ops.delete_network(host, LIB_NET, force=True)
            if ipam_dir.exists():
                res["errors"].append(f"library: {ipam_dir} still exists after delete_network")
    finally:
        host.close()
    return res


def _ref_conf(hl_dir: str) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": REF_NET,
        "type": "bridge",
        "bridge": REF_BRIDGE,
        "isGateway": True,
        "ipMasq": True,
        "ipam": {
            "type": "host-local",
            "dataDir": hl_dir,
            "ranges": [[{"subnet": REF_SUBNET}]],
            "routes": [{"dst": "0.0.0.0/0"}],
        },
    }


def _portmap_conf(port: int, prev: dict[str, Any]) -> dict[str, Any]:
    """portmap's netconf as libcni sends it: the plugin's own keys, the runtime's portMappings, prevResult."""
    return {"cniVersion": "1.0.0", "name": REF_NET, "type": "portmap", "capabilities": {"portMappings": True},
            "snat": True, "runtimeConfig": {"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]},
            "prevResult": prev}


def _ref_exec(command: str, name: str, conf: dict[str, Any]) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": name,
        "CNI_NETNS": f"{NETNS_DIR}/{name}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": CNI_DIR,
        "PATH": CNI_PATH_ENV,
    }
    data = json.dumps(conf).encode()
    t0 = time.perf_counter()
    proc = subprocess.run([f"{CNI_DIR}/{conf['type']}"], input=data, env=env, capture_output=True, check=False)
    return ms_since(t0), proc


def worker_reference(spec: dict[str, Any]) -> dict[str, Any]:
    """Exec bridge+host-local ADD/DEL from inside the reference host namespace (this process setns'd there);
    with spec["ports"] (name -> host port), the chain: bridge then portmap on ADD, portmap then bridge on DEL."""
    import cnictl.netlink.client  # noqa: F401 - loaded before any timing (used by the checks between phases)
    from cnictl.netns import NetnsRef, enter

    os.close(enter(NetnsRef.parse(spec["host"])))  # for good: every exec'd plugin starts in this namespace
    hl_dir = spec["hl"]
    conf = _ref_conf(hl_dir)
    ipam_dir = Path(hl_dir) / REF_NET
    ports: dict[str, int] = spec.get("ports", {})
    res: dict[str, Any] = {"attach_ms": [], "detach_ms": [], "errors": [], "addresses": {},
                           "bridge_add_ms": [], "portmap_add_ms": [], "portmap_del_ms": [], "bridge_del_ms": []}

    def run(command: str, name: str, netconf: dict[str, Any]) -> tuple[float, subprocess.CompletedProcess[bytes]]:
        ms, proc = _ref_exec(command, name, netconf)
        if proc.returncode != 0:
            raise BenchError(f"reference {netconf['type']} {command} {name} failed ({proc.returncode}): "
                             f"{(proc.stdout or proc.stderr).decode()[:300]}")
        return ms, proc

    def add(name: str) -> tuple[float, dict[str, Any]]:
        ms, proc = run("ADD", name, conf)
        result = json.loads(proc.stdout)
        if name in ports:
            res["bridge_add_ms"].append(ms)
            pm_ms, proc = run("ADD", name, _portmap_conf(ports[name], result))
            res["portmap_add_ms"].append(pm_ms)
            ms, result = ms + pm_ms, json.loads(proc.stdout)
        return ms, result

    def delete(name: str, prev: dict[str, Any]) -> float:
        total = 0.0
        if name in ports:
            total, _ = run("DEL", name, _portmap_conf(ports[name], prev))
            res["portmap_del_ms"].append(total)
        ms, _ = run("DEL", name, {**conf, "prevResult": prev})
        if name in ports:
            res["bridge_del_ms"].append(ms)
        return total + ms

    # exec floor of this driver: subprocess.run of /bin/true from inside the namespace
    floor = []
    for _ in range(30):
        t0 = time.perf_counter()
        subprocess.run(["/bin/true"], check=True)
        floor.append(ms_since(t0))
    res["true_ms"] = floor

    for name in spec.get("warmup", []):
        _ms, result = add(name)
        delete(name, result)
    for key in ("bridge_add_ms", "portmap_add_ms", "portmap_del_ms", "bridge_del_ms"):
        res[key] = []  # the warm-up's are not figures
    for names in spec["rounds"]:
        results: dict[str, dict[str, Any]] = {}
        addresses: dict[str, str] = {}
        for name in names:
            ms, result = add(name)
            res["attach_ms"].append(ms)
            results[name] = result
            ips = result.get("ips") or []
            addresses[name] = ips[0]["address"] if ips else "none"
        res["errors"] += check_distinct(addresses, REF_SUBNET, "reference ADD")
        res["errors"] += verify_attached(addresses, "reference ADD")
        res["errors"] += check_ipam(ipam_dir, len(names), "reference ADD")
        for name in names:
            res["detach_ms"].append(delete(name, results[name]))
        res["errors"] += verify_detached(names, "reference DEL")
        res["errors"] += check_ipam(ipam_dir, 0, "reference DEL")
        res["addresses"].update(addresses)
    return res


def worker_check(spec: dict[str, Any]) -> dict[str, Any]:
    errors = verify_attached(spec.get("attached", {}), spec["what"]) + verify_detached(spec.get("detached", []), spec["what"])
    return {"errors": errors}


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "library": worker_library, "reference": worker_reference, "check": worker_check}





# ------------------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------------------
def pctl(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def summarize(samples: list[float], positional: bool) -> dict[str, float | None]:
    if not samples:
        return {"n": 0, "median": None, "p90": None, "first10": None, "last10": None}
    k = max(1, round(len(samples) * 0.1))
    return {
        "n": len(samples),
        "median": statistics.median(samples),
        "p90": pctl(samples, 0.9),
        "first10": statistics.median(samples[:k]) if positional else None,
        "last10": statistics.median(samples[-k:]) if positional else None,
    }


# ------------------------------------------------------------------------------------------------
# the driver (root namespace: only creates/removes its own namespaces and starts processes)
# ------------------------------------------------------------------------------------------------
class Bench(Driver):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(f"bn{os.getpid()}", __file__, args.cnictl)
        self.args = args
        self.results: dict[int, dict[str, Any]] = {}
        self.memory: dict[str, Any] = {}
        self.floors: dict[str, Any] = {}
        self.notes: list[str] = []

    # ---- names -------------------------------------------------------------------------------
    HOST_SUFFIX = {"library": "h", "library-nojournal": "j", "cli": "k", "reference": "r", "cli-port": "p",
                   "chain": "m", "memory": "x"}

    def host_ns(self, variant: str) -> str:
        return f"{self.run_id}{self.HOST_SUFFIX[variant]}"

    def container(self, i: int) -> str:
        return f"{self.run_id}c{i}"

    def warm(self, i: int) -> str:
        return f"{self.run_id}w{i}"

    def ours(self, name: str) -> bool:
        rest = name[len(self.run_id):]
        return name.startswith(self.run_id) and rest[:1] in ("h", "j", "k", "r", "p", "m", "x", "c", "w")

    def cli_env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("CNICTL_")}

    def cli(self, *argv: str, host: str | None = None, state: Path | None = None) -> tuple[float, str]:
        cmd = [self.cnictl]
        if host is not None:
            cmd += ["--netns", host, "--state-dir", str(state), "--json"]
        cmd += list(argv)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.cli_env(), check=False)
        ms = ms_since(t0)
        if proc.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[:400]}")
        return ms, proc.stdout

    # ---- plan ------------------------------------------------------------------------------------
    def rounds_for(self, n: int) -> list[list[str]]:
        reps = math.ceil(MIN_SAMPLES / n) if n < MIN_SAMPLES else 1
        return [[self.container(r * n + i) for i in range(n)] for r in range(reps)]

    def settle(self) -> None:
        time.sleep(self.args.settle)

    def run(self) -> None:
        if not self.args.memory_only:
            self.run_timed()
        if self.args.memory:
            t0 = time.perf_counter()
            print(f"memory: cnictl attach processes, then a library process holding {MEMORY_N} attachments ...",
                  end=" ", flush=True)
            self.run_memory()
            print(f"{(time.perf_counter() - t0):.1f} s", flush=True)

    def run_timed(self) -> None:
        sizes = self.args.sizes
        total = max(len(r) * len(r[0]) for r in (self.rounds_for(n) for n in sizes))
        warm = [self.warm(i) for i in range(WARMUP)]
        print(f"run {self.run_id}: creating {total + WARMUP} container namespaces (untimed) ...", flush=True)
        self.ns_add([self.container(i) for i in range(total)] + warm)
        self.measure_floors()
        for n in sizes:
            self.results[n] = {}
            for variant in self.args.variants:
                if variant == "library-nojournal" and n != 1:  # the journal's cost is read at N=1
                    continue
                t0 = time.perf_counter()
                print(f"N={n}: {variant} ...", end=" ", flush=True)
                res = getattr(self, f"run_{variant.replace('-', '_')}")(n, warm)
                if res is not None:
                    self.results[n][variant] = res
                print(f"{(time.perf_counter() - t0):.1f} s", flush=True)
                self.settle()

    def measure_floors(self) -> None:
        reps = 10
        helps = [self.cli("--help")[0] for _ in range(reps)]
        self.floors["cnictl_help_ms"] = helps
        probe = self.host_ns("reference")
        self.ns_add([probe])
        try:
            nsexec = []
            for _ in range(reps):
                t0 = time.perf_counter()
                subprocess.run(["ip", "netns", "exec", probe, "/bin/true"], check=True)
                nsexec.append(ms_since(t0))
            self.floors["ip_netns_exec_true_ms"] = nsexec
        finally:
            self.ns_del([probe])

    # ---- variants ----------------------------------------------------------------------------------
    def run_library(self, n: int, warm: list[str], journal: bool = True) -> dict[str, Any]:
        variant = "library" if journal else "library-nojournal"
        host = self.host_ns(variant)
        rounds = self.rounds_for(n)
        self.ns_add([host])
        try:
            res = self.worker("library", mode="cycle", host=host, state=str(self.tmp / f"{variant}-{n}"), create=True,
                              delete=True, warmup=warm, rounds=rounds, journal=journal)
        finally:
            self.ns_del([host])
        return {"attach_ms": res["attach_ms"], "detach_ms": res["detach_ms"], "rounds": len(rounds),
                "fd_peak": res["fd_peak"], "journal": res["journal"]}

    def run_library_nojournal(self, n: int, warm: list[str]) -> dict[str, Any]:
        return self.run_library(n, warm, journal=False)

    def cli_peak_rss(self, *argv: str, host: str, state: Path) -> int:
        """Peak RSS (KiB) of one whole cnictl process against *host* and *state* (wait4 ru_maxrss of that child)."""
        cmd = [self.cnictl, "--netns", host, "--state-dir", str(state), "--json", *argv]
        _ms, rc, _out, err, kib = run_measured(cmd, env=self.cli_env())
        if rc != 0:
            raise BenchError(f"{' '.join(cmd)} failed ({rc}): {err.strip()[:400]}")
        return kib

    def run_memory(self) -> None:
        """Peak RSS of whole `cnictl attach` processes (with and without -p) on a fresh network, then of one library
        process that attaches MEMORY_N namespaces (its VmHWM with all of them attached) and detaches them again.
        The container namespaces the timed part made are reused; the missing ones are made and removed here."""
        host = self.host_ns("memory")
        names = [self.container(i) for i in range(MEMORY_N)]
        extra = [name for name in names if name not in self.created]
        self.ns_add([host, *extra])
        mem: dict[str, Any] = {"n": MEMORY_N, "cli_attach_kib": [], "cli_attach_port_kib": [],
                               "spawn_floor_kib": spawn_floor_kib()}
        self.memory = mem
        try:
            state = self.tmp / "memory-cli"
            self.cli("net", "create", LIB_NET, "--subnet", LIB_SUBNET, host=host, state=state)
            for name in names[:MEMORY_CLI_RUNS]:
                for key, publish in (("cli_attach_kib", []), ("cli_attach_port_kib", ["-p", f"{self.port_of(name)}:80"])):
                    mem[key].append(self.cli_peak_rss("attach", LIB_NET, name, *publish, host=host, state=state))
                    self.cli("detach", LIB_NET, name, host=host, state=state)
            self.cli("net", "rm", LIB_NET, "--force", host=host, state=state)
            self.settle()
            res = self.worker("library", mode="cycle", host=host, state=str(self.tmp / "memory-lib"), create=True,
                              delete=True, rounds=[names], memory=True)
            mem.update(lib_start=res["mem_start"], lib_attached=res["mem"], lib_fd_peak=res["fd_peak"],
                       lib_attach_ms=statistics.median(res["attach_ms"]), lib_detach_ms=statistics.median(res["detach_ms"]))
        finally:
            self.ns_del([host, *extra])

    def port_of(self, name: str) -> int:
        """The host port a container (or warm-up) namespace publishes in cli-port and chain."""
        rest = name[len(self.run_id):]
        return PORT_BASE + int(rest[1:]) + (60000 - PORT_BASE - WARMUP if rest[0] == "w" else 0)

    def run_cli_port(self, n: int, warm: list[str]) -> dict[str, Any] | None:
        return self.run_cli(n, warm, ports=True)

    def run_cli(self, n: int, warm: list[str], ports: bool = False) -> dict[str, Any] | None:
        cli_max = self.args.cli_max
        if cli_max <= 0:
            return None
        variant = "cli-port" if ports else "cli"
        host = self.host_ns(variant)
        state = self.tmp / f"{variant}-{n}"

        def publish(name: str) -> list[str]:
            return ["-p", f"{self.port_of(name)}:80"] if ports else []
        ipam_dir = state / "ipam" / LIB_NET
        rounds = self.rounds_for(n)
        prefill: list[str] = []
        if n > cli_max:  # sample: the library attaches the first n - cli_max, the CLI the last cli_max
            prefill, rounds = rounds[0][: n - cli_max], [rounds[0][n - cli_max:]]
        self.ns_add([host])
        attach_ms: list[float] = []
        detach_ms: list[float] = []
        try:
            self.cli("net", "create", LIB_NET, "--subnet", LIB_SUBNET, host=host, state=state)
            for name in warm:
                self.cli("attach", LIB_NET, name, *publish(name), host=host, state=state)
                self.cli("detach", LIB_NET, name, host=host, state=state)
            prefill_ports = {name: self.port_of(name) for name in prefill} if ports else {}
            if prefill:
                self.worker("library", mode="attach", host=host, state=str(state), rounds=[prefill], verify=False,
                            ports=prefill_ports)
            for names in rounds:
                addresses = {}
                for name in names:
                    ms, out = self.cli("attach", LIB_NET, name, *publish(name), host=host, state=state)
                    attach_ms.append(ms)
                    addresses[name] = json.loads(out)["addresses"][0]
                self.errors += check_distinct(addresses, LIB_SUBNET, "cli attach")
                self.errors += check_ipam(ipam_dir, len(prefill) + len(names), "cli attach")
                if names is rounds[0]:  # the kernel side of one round (a check process per round would dominate N=1)
                    self.worker("check", what="cli attach", attached=addresses)
                for name in names:
                    detach_ms.append(self.cli("detach", LIB_NET, name, host=host, state=state)[0])
                self.errors += check_ipam(ipam_dir, len(prefill), "cli detach")
            if prefill:
                self.worker("library", mode="detach", host=host, state=str(state), rounds=[prefill], verify=False,
                            ports=prefill_ports)
                self.errors += check_ipam(ipam_dir, 0, "cli (prefill detach)")
                self.worker("check", what="cli prefill", attached={}, detached=prefill)
            self.worker("check", what="cli detach", detached=[name for names in rounds for name in names])
            self.cli("net", "rm", LIB_NET, "--force", host=host, state=state)
        finally:
            self.ns_del([host])
        return {"attach_ms": attach_ms, "detach_ms": detach_ms, "rounds": len(rounds), "prefilled": len(prefill)}

    def run_reference(self, n: int, warm: list[str], ports: bool = False) -> dict[str, Any]:
        variant = "chain" if ports else "reference"
        host = self.host_ns(variant)
        rounds = self.rounds_for(n)
        names = warm + [name for names in rounds for name in names]
        self.ns_add([host])
        try:
            res = self.worker("reference", host=host, hl=str(self.tmp / f"{variant}-{n}" / "hl"), warmup=warm,
                              rounds=rounds, ports={name: self.port_of(name) for name in names} if ports else {})
        finally:
            self.ns_del([host])
        self.floors.setdefault("refns_true_ms", []).extend(res["true_ms"])
        out = {"attach_ms": res["attach_ms"], "detach_ms": res["detach_ms"], "rounds": len(rounds)}
        if ports:
            out.update({k: res[k] for k in ("bridge_add_ms", "portmap_add_ms", "portmap_del_ms", "bridge_del_ms")})
        return out

    def run_chain(self, n: int, warm: list[str]) -> dict[str, Any]:
        return self.run_reference(n, warm, ports=True)

    # ---- cleanup ----------------------------------------------------------------------------------



# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def build_report(bench: Bench) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {}
    for n, per in bench.results.items():
        table[str(n)] = {}
        for variant, res in per.items():
            positional = res["rounds"] == 1
            table[str(n)][variant] = {
                **{k: v for k, v in res.items() if not k.endswith("_ms")},
                **{k: {"median": statistics.median(v)} for k, v in res.items()
                   if k.endswith("_ms") and k not in ("attach_ms", "detach_ms") and v},
                "attach": summarize(res["attach_ms"], positional),
                "detach": summarize(res["detach_ms"], positional),
                "attach_ms": [round(x, 3) for x in res["attach_ms"]],
                "detach_ms": [round(x, 3) for x in res["detach_ms"]],
            }
    checks: list[dict[str, Any]] = []

    def med(n: int, variant: str, op: str) -> float | None:
        return table.get(str(n), {}).get(variant, {}).get(op, {}).get("median")

    def add(label: str, value: float | None, op: str, limit: float, unit: str) -> None:
        ok = None if value is None else (value >= limit if op == ">=" else value <= limit if op == "<=" else value < limit)
        checks.append({"check": label, "value": value, "target": f"{op} {limit:g}{unit}", "unit": unit,
                       "pass": ok})

    sizes = sorted(bench.results)
    for n in sizes:
        ref, lib = med(n, "reference", "attach"), med(n, "library", "attach")
        add(f"reference attach / library attach, N={n}", ref / lib if ref and lib else None, ">=", TARGET_REF_OVER_LIB, "x")
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        a, b = med(hi, "library", "attach"), med(lo, "library", "attach")
        add(f"library attach N={hi} / N={lo}", a / b if a and b else None, "<=", TARGET_LIB_GROWTH, "x")
    for n in sizes:
        lib, ref = med(n, "library", "detach"), med(n, "reference", "detach")
        add(f"library detach / reference DEL, N={n}", lib / ref if lib and ref else None, "<=", TARGET_DETACH_OVER_DEL, "x")
    for n in sizes:
        if "cli" in bench.results[n]:
            add(f"CLI attach wall median, N={n}", med(n, "cli", "attach"), "<", TARGET_CLI_ATTACH_MS, " ms")
    for n in sizes:
        cli, chain = med(n, "cli-port", "attach"), med(n, "chain", "attach")
        if cli is None and chain is None:
            continue
        limit = TARGET_CLI_OVER_CHAIN_N1 if n == 1 else TARGET_CLI_OVER_CHAIN_N500 if n >= 500 else None
        label = f"cnictl attach -p / chain with a port, N={n}"
        if limit is None:
            checks.append({"check": label, "value": cli / chain if cli and chain else None, "target": "info",
                           "unit": "x", "pass": None})
        else:
            add(label, cli / chain if cli and chain else None, "<=", limit, "x")
    helps = bench.floors.get("cnictl_help_ms")
    if bench.results:
        add("cnictl --help median", statistics.median(helps) if helps else None, "<=", TARGET_HELP_MS, " ms")
    nojournal = table.get("1", {}).get("library-nojournal")
    if nojournal is not None:
        on, off = med(1, "library", "attach"), med(1, "library-nojournal", "attach")
        states = (table["1"].get("library", {}).get("journal"), nojournal.get("journal"))
        add("journal cost: library attach N=1 (journal) / (no journal)",
            on / off if states == ("on", "off") and on and off else None, "<=", TARGET_JOURNAL_COST, "x")
    mem = bench.memory
    if bench.args.memory:
        runs = mem.get("cli_attach_kib", []) + mem.get("cli_attach_port_kib", [])
        add(f"peak RSS of one `cnictl attach` process (max of {len(runs)})", max(runs) / 1024 if runs else None, "<=",
            TARGET_CLI_PEAK_RSS_MIB, " MiB")
        held = mem.get("lib_attached")
        add(f"peak RSS of a library process holding {MEMORY_N} attachments", held["VmHWM"] / 1024 if held else None,
            "<=", TARGET_LIB_PEAK_RSS_MIB, " MiB")
    floors = {k: {"median": statistics.median(v), "samples": [round(x, 3) for x in v]} for k, v in bench.floors.items() if v}
    return {"results": table, "targets": checks, "floors": floors, "memory": mem}


def print_timing(bench: Bench, report: dict[str, Any], env: dict[str, Any]) -> None:
    """The exec floors and the table of every N and variant."""
    p = print
    p(f"reference: containernetworking-plugins {env['cni_plugins']} bridge+host-local (isGateway, ipMasq), exec'd "
      "directly from a child Python process that setns'd into its own reference host namespace (fair: no "
      "`ip netns exec` per call).")
    fl = report["floors"]

    def floor(key: str) -> str:
        return fmt(fl[key]["median"], 2) if key in fl else "-"

    p(f"exec floors: /bin/true from the reference driver (inside the namespace) {floor('refns_true_ms')} ms; "
      f"`ip netns exec <ns> /bin/true` {floor('ip_netns_exec_true_ms')} ms (not paid by the reference loop, shown "
      f"for comparison); `cnictl --help` {floor('cnictl_help_ms')} ms (median of 10).")
    p("times in ms per namespace; N<20 runs in rounds of N on fresh namespaces (first/last 10% then '-');")
    p(f"cli*: N > --cli-max ({bench.args.cli_max}): the first N-{bench.args.cli_max} were attached by the library "
      f"(untimed), the last {bench.args.cli_max} attaches and their detaches were timed with the CLI.")
    p("")
    vw = max([10] + [len(v) + 1 for per in report["results"].values() for v in per])  # the variant column
    hdr = f"{'N':>5}  {'variant':<{vw}} {'n':>4}  {'attach':>8} {'p90':>8} {'first10%':>9} {'last10%':>8}  " \
          f"{'detach':>8} {'p90':>8}"
    p(hdr)
    p("-" * len(hdr))
    for n, per in report["results"].items():
        for variant in VARIANTS:
            r = per.get(variant)
            if r is None:
                continue
            a, d = r["attach"], r["detach"]
            name = variant + ("*" if r.get("prefilled") else "")
            p(f"{n:>5}  {name:<{vw}} {a['n']:>4}  {fmt(a['median']):>8} {fmt(a['p90']):>8} {fmt(a['first10']):>9} "
              f"{fmt(a['last10']):>8}  {fmt(d['median']):>8} {fmt(d['p90']):>8}")


def print_report(bench: Bench, report: dict[str, Any], env: dict[str, Any]) -> None:
    p = print
    p("")
    p(f"cnictl attach benchmark  run {bench.run_id}  {env['kernel']}  {env['cpus']} CPUs  "
      f"load {env['load_start']} -> {env['load_end']}  {env['started']}")
    if report["results"]:
        print_timing(bench, report, env)
    p("")
    p("targets")
    lw = max([44] + [len(c["check"]) for c in report["targets"]])
    uw = max([3] + [len(c["unit"]) for c in report["targets"]])
    tw = max([9] + [len(c["target"]) for c in report["targets"]])
    for c in report["targets"]:
        verdict = ("info" if c["target"] == "info" else "n/a") if c["pass"] is None else ("PASS" if c["pass"] else "FAIL")
        digits = 2 if c["unit"] == "x" else 1
        p(f"  {c['check']:<{lw}} {fmt(c['value'], digits):>8}{c['unit']:<{uw}}  target {c['target']:<{tw}} {verdict}")
    journal = {v: per[v]["journal"] for per in report["results"].values() for v in ("library", "library-nojournal")
               if v in per and "journal" in per[v]}
    if any(state.startswith("n/a") for state in journal.values()):
        p("journal cost n/a: " + "; ".join(f"{v} ran with journal {state}" for v, state in journal.items()))
    for n, per in report["results"].items():
        chain = per.get("chain")
        if chain and "bridge_add_ms" in chain:
            p(f"chain N={n} per plugin (median): ADD bridge {fmt(chain['bridge_add_ms']['median'])} + portmap "
              f"{fmt(chain['portmap_add_ms']['median'])} ms; DEL portmap {fmt(chain['portmap_del_ms']['median'])} + "
              f"bridge {fmt(chain['bridge_del_ms']['median'])} ms")
    print_memory(report["memory"])
    fds = {n: per["library"].get("fd_peak") for n, per in report["results"].items() if "library" in per}
    if fds:
        p("")
        p("library process open fds after its attach phases (peak): " + ", ".join(f"N={n}: {v}" for n, v in fds.items())
          + f" (N<{MIN_SAMPLES}: all rounds in one Host; a count that grows with N would mean handles kept per "
          "namespace)")


def print_memory(mem: dict[str, Any]) -> None:
    p = print
    if mem.get("cli_attach_kib"):
        def mib(xs: list[int]) -> str:
            return f"median {statistics.median(xs) / 1024:.1f}, max {max(xs) / 1024:.1f}"

        p(f"memory, peak RSS in MiB (KiB/1024): one `cnictl attach` process (wait4 ru_maxrss, {len(mem['cli_attach_kib'])} "
          f"each): {mib(mem['cli_attach_kib'])}; with -p {mib(mem['cli_attach_port_kib'])} (floor of the method, "
          f"/bin/true: {mem['spawn_floor_kib'] / 1024:.1f})")
    if mem.get("lib_attached"):
        held, start = mem["lib_attached"], mem["lib_start"]
        p(f"memory: a library process holding {held['attached']} attachments: VmHWM {held['VmHWM'] / 1024:.1f}, VmRSS "
          f"{held['VmRSS'] / 1024:.1f} MiB (before attaching: VmRSS {start['VmRSS'] / 1024:.1f}); open fds "
          f"{mem['lib_fd_peak']}; its attach median {mem['lib_attach_ms']:.1f} ms, detach median "
          f"{mem['lib_detach_ms']:.1f} ms")


def environment() -> dict[str, Any]:
    return harness_environment(cni_plugins=command_output("dpkg-query", "-W", "-f", "${Version}",
                                                          "containernetworking-plugins") or "?")


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,100,500", help="comma-separated N values (default 1,100,500)")
    ap.add_argument("--quick", action="store_true", help="sizes 1,20 (overrides --sizes)")
    ap.add_argument("--cli-max", type=int, default=100,
                    help="time at most this many CLI attaches per N; larger N are sampled (default 100, 0: skip CLI)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"subset of {','.join(VARIANTS)}")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait between variants (default 1)")
    ap.add_argument("--cnictl", help="cnictl executable (default: next to this Python)")
    ap.add_argument("--memory", action="store_true",
                    help=f"only the memory figures: peak RSS of `cnictl attach` processes and of a library process "
                         f"holding {MEMORY_N} attachments (the default run and --quick include them)")
    ap.add_argument("--no-memory", action="store_true", help="leave the memory figures out")
    ap.add_argument("--json", metavar="FILE", help="write every figure (and raw samples) to FILE")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return args
    if args.memory and args.no_memory:
        ap.error("--memory and --no-memory exclude each other")
    args.memory_only, args.memory = args.memory, not args.no_memory
    sizes_text = "1,20" if args.quick else args.sizes
    try:
        args.sizes = sorted({int(x) for x in sizes_text.split(",") if x.strip()})
    except ValueError:
        ap.error(f"bad --sizes {sizes_text!r}: give integers such as 1,100,500")
    if not args.sizes or min(args.sizes) < 1:
        ap.error("--sizes needs positive integers")
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in args.variants if v not in VARIANTS]
    if bad:
        ap.error(f"unknown variant(s) {', '.join(bad)}; choose from {', '.join(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args.worker, WORKERS)
    if os.geteuid() != 0:
        print("attach.py: needs root (creates network namespaces)", file=sys.stderr)
        return 2
    if "reference" in args.variants and not os.access(f"{CNI_DIR}/bridge", os.X_OK):
        print(f"attach.py: {CNI_DIR}/bridge not found (apt-get install containernetworking-plugins)", file=sys.stderr)
        return 2

    sigterm_as_interrupt()
    env = environment()
    before = root_snapshot()
    bench = Bench(args)
    if not os.access(bench.cnictl, os.X_OK):
        print(f"attach.py: {bench.cnictl} is not executable (give --cnictl PATH)", file=sys.stderr)
        shutil.rmtree(bench.tmp, ignore_errors=True)
        return 2
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if "library" in args.variants and soft < 6 * max(args.sizes + [MEMORY_N if args.memory else 0]) + 200:
        print(f"attach.py: warning: open-file limit {soft} may be too low: the cnictl library keeps about 5 fds per "
              "attached namespace (raise it with ulimit -n)", file=sys.stderr)
    status, fatal, problems = guarded_run(bench.run, bench.cleanup, before)
    env["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
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
        print("correctness: every attach got a distinct address in its subnet and on eth0; after detach no eth0 "
              "is left and the IPAM directories hold no reservations: OK")
    if problems:
        print("cleanup: PROBLEMS: " + "; ".join(problems))
    else:
        print(f"cleanup: all {len(bench.created)} namespaces of this run and {bench.tmp} removed; root namespace "
              f"links, routes, nft ruleset and ip_forward={before['ip_forward']} unchanged: OK")
    if args.json:
        doc = {"environment": env, "params": {"sizes": args.sizes, "cli_max": args.cli_max, "warmup": WARMUP,
                                               "min_samples": MIN_SAMPLES, "variants": args.variants,
                                               "memory": args.memory, "memory_only": args.memory_only,
                                               "memory_n": MEMORY_N},
               **report, "correctness_errors": bench.errors, "cleanup_problems": problems, "stopped": fatal}
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json}")
    if status == 0 and (bench.errors or problems):
        status = 1
    return status


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
