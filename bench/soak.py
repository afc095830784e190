"""Soak benchmark: thousands of attach/detach cycles on one cnictl bridge network, looking for leaks.

* library: one worker process enters the bench host namespace once (cnictl.host.Host) and runs --cycles
           (default 2,000) cycles of cnictl.ops.attach + cnictl.ops.detach, round-robin over a pool of
           container namespaces; every tenth cycle publishes a port (ports=["HOSTPORT:80"], as `-p`).
* cli:     --cli-cycles (default 300) cycles of `cnictl attach NET NS` + `cnictl detach NET NS`, exec'd with
           `--netns HOST --state-dir DIR` as bench/attach.py's cli variant does; every tenth with `-p HOSTPORT:80`.

At the start, after a warm-up, every 500 library cycles and at the end it takes a snapshot: the library
worker's open fds and RSS (its own /proc/self), the state directory's files, the element counts of every
set and map of cnictl's nftables table in the host namespace (`nft -j list ruleset` run there), and the
links left over (in the host namespace: other than lo and the bridge; in the container namespaces: other than
lo). The targets (PASS/FAIL) read those snapshots: nothing left at the end, fds flat, RSS growth <= 5 MiB.

Isolation: namespaces bn<pid>{h,c<i>} (host, container pool); the state lives in a temporary directory;
the root network namespace is never changed. Everything is removed in `finally`, also on Ctrl-C.

Run as root:  .venv/bin/python bench/soak.py [--quick] [--cycles 2000] [--cli-cycles 300] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
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

NET = "soak"
SUBNET = "10.95.0.0/16"  # only ever inside this run's host namespace
POOL = 10  # container namespaces, used round-robin
WARMUP_CYCLES = 20  # the fd and RSS baselines are taken after these
CHECK_EVERY = 500  # library snapshot interval (cycles)
PROGRESS_EVERY = 100
PORT_EVERY = 10  # every tenth cycle publishes a port
LIB_PORT_BASE = 30000
CLI_PORT_BASE = 50000
TARGET_RSS_GROWTH_MIB = 5.0
NFT_TABLE = ("inet", "cnictl")
PORT_MAPS = ("ports-addr", "ports-port", "any-addr", "any-port")


# ------------------------------------------------------------------------------------------------
# measuring (from the library worker inside the host namespace, or from the driver: both only read)
# ------------------------------------------------------------------------------------------------
def _run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
    return proc.stdout


def link_names(netns: str) -> list[str]:
    """The links of a named namespace (`ip -n NS -j link`)."""
    return [link["ifname"] for link in json.loads(_run(["ip", "-n", netns, "-j", "link", "show"]) or "[]")]


def nft_sets(host: str) -> dict[str, int] | None:
    """Element count of every set and map of cnictl's table in *host* (None: no such table there)."""
    doc = json.loads(_run(["ip", "netns", "exec", host, "nft", "-j", "list", "ruleset"]) or "{}")
    table, counts = False, {}
    for item in doc.get("nftables", []):
        if (item.get("table", {}).get("family"), item.get("table", {}).get("name")) == NFT_TABLE:
            table = True
        for kind in ("set", "map"):
            obj = item.get(kind)
            if obj and (obj.get("family"), obj.get("table")) == NFT_TABLE:
                counts[obj["name"]] = len(obj.get("elem", []))
    return counts if table else None


def state_counts(state: Path) -> dict[str, Any]:
    """Files and directories under the state directory (recursive), and the records a cycle must not leave."""
    files = dirs = 0
    names: list[str] = []
    for root, ds, fs in os.walk(state):
        files += len(fs)
        dirs += len(ds)
        names += [os.path.relpath(os.path.join(root, f), state) for f in fs]

    def listing(path: Path) -> list[str]:
        try:
            return os.listdir(path)
        except FileNotFoundError:
            return []

    records = [n for n in listing(state / "attachments" / NET) if n.endswith(".json")]
    reservations = []
    for name in listing(state / "ipam" / NET):
        with contextlib.suppress(ValueError):
            reservations.append(ipaddress.ip_address(name))
    claims = 0  # ports/<proto>/<port>/<host address or "any">
    for proto in listing(state / "ports"):
        if (state / "ports" / proto).is_dir():
            claims += sum(len(listing(state / "ports" / proto / port)) for port in listing(state / "ports" / proto))
    return {"files": files, "dirs": dirs, "attachments": len(records), "reservations": len(reservations),
            "claims": claims, "file_names": sorted(names)[:50]}


def bridge_of(state: Path) -> str | None:
    try:
        return json.loads((state / "networks" / f"{NET}.json").read_text()).get("bridge")
    except FileNotFoundError:
        return None


def snapshot(label: str, cycle: int, host: str, state: Path, pool: list[str], own: bool) -> dict[str, Any]:
    """Everything a snapshot holds; *own*: also this process's open fds, RSS and peak RSS (the library worker)."""
    snap: dict[str, Any] = {"label": label, "cycle": cycle}
    if own:
        mem = proc_status("VmRSS", "VmHWM")
        snap.update(fds=len(os.listdir("/proc/self/fd")), rss_kib=mem["VmRSS"], hwm_kib=mem["VmHWM"])
    snap.update(state_counts(state))
    snap["nft"] = nft_sets(host)
    keep = {"lo", bridge_of(state)}
    snap["host_links"] = [n for n in link_names(host) if n not in keep]
    snap["container_links"] = {ns: extra for ns in pool if (extra := [n for n in link_names(ns) if n != "lo"])}
    return snap


def leftover_count(snap: dict[str, Any]) -> int:
    return len(snap["host_links"]) + sum(len(v) for v in snap["container_links"].values())


def port_elements(snap: dict[str, Any]) -> int:
    return sum((snap["nft"] or {}).get(m, 0) for m in PORT_MAPS)


def in_subnet(cidr: str) -> bool:
    return ipaddress.ip_address(cidr.split("/")[0]) in ipaddress.ip_network(SUBNET)


def probe_errors(snap: dict[str, Any], who: str) -> list[str]:
    """While one namespace is attached with one published port, the measurements must see exactly that."""
    want = {"attachments": 1, "reservations": 1, "claims": 1}
    errors = [f"{who} probe: {k} = {snap[k]}, expected {v}" for k, v in want.items() if snap[k] != v]
    if port_elements(snap) != 2:
        errors.append(f"{who} probe: nft port maps hold {port_elements(snap)} elements, expected 2 ({snap['nft']})")
    if len(snap["host_links"]) != 1:
        errors.append(f"{who} probe: host namespace extra links {snap['host_links']}, expected one veth")
    if sum(len(v) for v in snap["container_links"].values()) != 1:
        errors.append(f"{who} probe: container interfaces {snap['container_links']}, expected one eth0")
    return errors


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def progress(what: str, done: int, total: int, attach_ms: list[float], detach_ms: list[float], t0: float,
             extra: str = "") -> None:
    a, d = attach_ms[-PROGRESS_EVERY:], detach_ms[-PROGRESS_EVERY:]
    print(f"  {what} {done}/{total}  last {len(a)}: attach median {statistics.median(a):.1f} ms, detach "
          f"{statistics.median(d):.1f} ms  {extra}elapsed {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# the library worker (a child process started by the driver with `--worker SPEC.json`)
# ------------------------------------------------------------------------------------------------
def worker_library(spec: dict[str, Any]) -> dict[str, Any]:
    """Create the network, then attach/detach spec["cycles"] times in one process (host namespace entered once)."""
    from cnictl import ops
    from cnictl.host import Host
    from cnictl.netns import same_netns

    host_ns, state, pool, cycles = spec["host"], Path(spec["state"]), spec["pool"], spec["cycles"]
    host = Host(netns=host_ns, state_dir=str(state)).enter()
    if not same_netns(f"{NETNS_DIR}/{host_ns}"):
        raise BenchError(f"library worker is not in {host_ns} after Host.enter()")
    res: dict[str, Any] = {"snapshots": [], "attach_ms": [], "detach_ms": [], "errors": [], "ports": 0}

    def snap(label: str, cycle: int) -> dict[str, Any]:
        s = snapshot(label, cycle, host_ns, state, pool, own=True)
        res["snapshots"].append(s)
        return s

    try:
        ops.create_network(host, ops.NetworkRequest(name=NET, subnets=[SUBNET]))
        snap("start", 0)
        t_start = time.perf_counter()
        for i in range(cycles):
            name, done = pool[i % len(pool)], i + 1
            ports = [f"{LIB_PORT_BASE + (i // PORT_EVERY) % 15000}:80"] if done % PORT_EVERY == 0 else []
            t0 = time.perf_counter()
            out = ops.attach(host, NET, name, ports=ports)
            res["attach_ms"].append(ms_since(t0))
            address = out.result["addresses"][0]
            if not in_subnet(address):
                res["errors"].append(f"library cycle {done}: {name} got {address}, outside {SUBNET}")
            if ports and res["ports"] == 0:  # the first published port: the measurements must see it
                res["errors"] += probe_errors(snap("attached (probe)", done), "library")
            res["ports"] += bool(ports)
            t0 = time.perf_counter()
            ops.detach(host, NET, name)
            res["detach_ms"].append(ms_since(t0))
            if done == WARMUP_CYCLES:
                snap("after warm-up", done)
            if done == cycles:
                snap("end", done)
            elif done % CHECK_EVERY == 0:
                snap(f"cycle {done}", done)
            if done % PROGRESS_EVERY == 0 or done == cycles:
                mem = proc_status("VmRSS")
                progress("library", done, cycles, res["attach_ms"], res["detach_ms"], t_start,
                         f"fds {len(os.listdir('/proc/self/fd'))}, RSS {mem['VmRSS'] / 1024:.1f} MiB  ")
    finally:
        host.close()
    return res


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"library": worker_library}


# ------------------------------------------------------------------------------------------------
# the driver (root namespace: only creates/removes its own namespaces and starts processes)
# ------------------------------------------------------------------------------------------------
class Soak(Driver):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(f"bn{os.getpid()}", __file__, args.cnictl)
        self.args = args
        self.host = f"{self.run_id}h"
        self.pool = [f"{self.run_id}c{i}" for i in range(POOL)]
        self.state = self.tmp / "state"
        self.library: dict[str, Any] = {}
        self.cli_res: dict[str, Any] = {}
        self.final: dict[str, Any] | None = None

    def ours(self, name: str) -> bool:
        rest = name[len(self.run_id):]
        return name.startswith(self.run_id) and rest[:1] in ("h", "c")

    def cli(self, *argv: str) -> tuple[float, str, int]:
        """One cnictl exec against the bench host and state: (wall ms, stdout, peak RSS KiB of that process)."""
        cmd = [self.cnictl, "--netns", self.host, "--state-dir", str(self.state), "--json", *argv]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNICTL_")}
        ms, rc, out, err, maxrss = run_measured(cmd, env=env)
        if rc != 0:
            raise BenchError(f"{' '.join(cmd)} failed ({rc}): {err.strip()[:400]}")
        return ms, out, maxrss

    def snap(self, label: str, cycle: int) -> dict[str, Any]:
        return snapshot(label, cycle, self.host, self.state, self.pool, own=False)

    def run(self) -> None:
        a = self.args
        self.ns_add([self.host, *self.pool])
        print(f"run {self.run_id}: network {NET} ({SUBNET}) in {self.host}, {POOL} container namespaces; "
              f"{a.cycles} library cycles, then {a.cli_cycles} CLI cycles", flush=True)
        t0 = time.perf_counter()
        self.library = self.worker("library", live_stderr=True, host=self.host, state=str(self.state),
                                   pool=self.pool, cycles=a.cycles)
        self.library["seconds"] = time.perf_counter() - t0
        print(f"library: {a.cycles} cycles in {self.library['seconds']:.1f} s", flush=True)
        if a.cli_cycles > 0:
            self.run_cli(a.cli_cycles)
        self.cli("net", "rm", NET, "--force")
        self.final = self.snap("after net rm", 0)

    def run_cli(self, cycles: int) -> None:
        res: dict[str, Any] = {"snapshots": [self.snap("start", 0)], "attach_ms": [], "detach_ms": [],
                               "attach_maxrss_kib": [], "detach_maxrss_kib": [], "ports": 0,
                               "spawn_floor_kib": spawn_floor_kib()}
        self.cli_res = res
        t_start = time.perf_counter()
        for i in range(cycles):
            name, done = self.pool[i % len(self.pool)], i + 1
            publish = ["-p", f"{CLI_PORT_BASE + (i // PORT_EVERY) % 15000}:80"] if done % PORT_EVERY == 0 else []
            ms, out, rss = self.cli("attach", NET, name, *publish)
            res["attach_ms"].append(ms)
            res["attach_maxrss_kib"].append(rss)
            address = json.loads(out)["addresses"][0]
            if not in_subnet(address):
                self.errors.append(f"cli cycle {done}: {name} got {address}, outside {SUBNET}")
            if publish and res["ports"] == 0:
                probe = self.snap("attached (probe)", done)
                res["snapshots"].append(probe)
                self.errors.extend(probe_errors(probe, "cli"))
            res["ports"] += bool(publish)
            ms, _out, rss = self.cli("detach", NET, name)
            res["detach_ms"].append(ms)
            res["detach_maxrss_kib"].append(rss)
            if done % PROGRESS_EVERY == 0 or done == cycles:
                progress("cli", done, cycles, res["attach_ms"], res["detach_ms"], t_start,
                         f"peak RSS attach {rss / 1024:.1f} MiB  ")
        res["snapshots"].append(self.snap("end", cycles))
        res["seconds"] = time.perf_counter() - t_start


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def by_label(snaps: list[dict[str, Any]], label: str) -> dict[str, Any] | None:
    return next((s for s in snaps if s["label"] == label), None)


def build_targets(soak: Soak) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def add(label: str, value: float | None, op: str, limit: float, unit: str) -> None:
        ok = None if value is None else (value <= limit if op == "<=" else value == limit)
        checks.append({"check": label, "value": value, "target": f"{op} {limit:g}{unit}", "unit": unit, "pass": ok})

    for who, res in (("library", soak.library), ("cli", soak.cli_res)):
        snaps = res.get("snapshots", [])
        first, end = by_label(snaps, "start"), by_label(snaps, "end")
        n = len(res.get("attach_ms", []))
        if end is None:
            if res or who == "library":
                add(f"{who}: nothing left at the end", None, "==", 0, "")
            continue
        add(f"{who}: leftover links after {n} cycles", leftover_count(end), "==", 0, "")
        add(f"{who}: attachment records left", end["attachments"], "==", 0, "")
        add(f"{who}: IPAM reservations left", end["reservations"], "==", 0, "")
        add(f"{who}: port claims left", end["claims"], "==", 0, "")
        add(f"{who}: nft port map elements left", port_elements(end) if end["nft"] is not None else None, "==", 0, "")
        if first is not None and first["nft"] is not None and end["nft"] is not None:
            changed = sum(abs(end["nft"].get(k, 0) - first["nft"].get(k, 0)) for k in set(first["nft"]) | set(end["nft"]))
            add(f"{who}: nft set elements end - start", changed, "==", 0, "")
        base = by_label(snaps, "after warm-up") if who == "library" else first
        if base is not None:
            add(f"{who}: state dir files end - {base['label']}", end["files"] - base["files"], "==", 0, "")
        if who == "library" and base is not None:
            add(f"library: open fds end - after warm-up ({base['fds']})", end["fds"] - base["fds"], "==", 0, "")
            add(f"library: RSS growth, cycle {base['cycle']} -> {end['cycle']}",
                (end["rss_kib"] - base["rss_kib"]) / 1024, "<=", TARGET_RSS_GROWTH_MIB, " MiB")
    return checks


def print_snapshots(title: str, snaps: list[dict[str, Any]], own: bool) -> None:
    p = print
    p(title)
    hdr = (f"  {'snapshot':<17} {'cycle':>5}  " + (f"{'fds':>4} {'RSS MiB':>8} {'HWM MiB':>8}  " if own else "")
           + f"{'files':>5} {'dirs':>4}  {'att':>3} {'ipam':>4} {'claim':>5}  {'links':>5}  nft set/map elements")
    p(hdr)
    for s in snaps:
        nft = "no cnictl table" if s["nft"] is None else " ".join(f"{k}={v}" for k, v in sorted(s["nft"].items()))
        mem = f"{s['fds']:>4} {mib(s['rss_kib']):>8} {mib(s['hwm_kib']):>8}  " if own else ""
        p(f"  {s['label']:<17} {s['cycle']:>5}  {mem}{s['files']:>5} {s['dirs']:>4}  {s['attachments']:>3} "
          f"{s['reservations']:>4} {s['claims']:>5}  {leftover_count(s):>5}  {nft}")
        if leftover_count(s) and s["label"] != "attached (probe)":
            p(f"    leftover links: host {s['host_links']}, containers {s['container_links']}")


def timing_line(who: str, res: dict[str, Any]) -> str:
    a, d = res.get("attach_ms", []), res.get("detach_ms", [])
    if not a:
        return f"  {who}: no cycles"
    k = max(1, len(a) // 10)
    return (f"  {who:<8} {len(a):>5} cycles in {res.get('seconds', 0):.1f} s  attach median {median(a):.1f} ms "
            f"(first 10% {median(a[:k]):.1f}, last 10% {median(a[-k:]):.1f})  detach median {median(d):.1f} ms "
            f"(first 10% {median(d[:k]):.1f}, last 10% {median(d[-k:]):.1f})  published a port {res.get('ports', 0)}x")


def print_report(soak: Soak, checks: list[dict[str, Any]], env: dict[str, Any]) -> None:
    p = print
    p("")
    p(f"cnictl soak benchmark  run {soak.run_id}  {env['kernel']}  {env['cpus']} CPUs  "
      f"load {env['load_start']} -> {env['load_end']}  {env['started']}")
    p(f"network {NET} ({SUBNET}, bridge driver, nftables) in {soak.host}; {POOL} container namespaces round-robin; "
      f"every {PORT_EVERY}th cycle publishes a port")
    p("")
    p("timing")
    p(timing_line("library", soak.library))
    p(timing_line("cli", soak.cli_res))
    p("")
    cols = ("columns: att = attachment records, ipam = IPAM reservations, claim = port claims, links = leftover links "
            "(host namespace: other than lo and the bridge; containers: other than lo)")
    p(cols)
    if soak.library.get("snapshots"):
        print_snapshots("library (fds, RSS, HWM: the worker process itself)", soak.library["snapshots"], own=True)
    if soak.cli_res.get("snapshots"):
        print_snapshots("cli", soak.cli_res["snapshots"], own=False)
        for verb in ("attach", "detach"):
            kib = soak.cli_res[f"{verb}_maxrss_kib"]
            parts = []
            for what, port in (("plain", False), ("with -p", True)):
                xs = [k for i, k in enumerate(kib) if ((i + 1) % PORT_EVERY == 0) == port]
                if xs:
                    parts.append(f"{what} first {mib(xs[0])}, last {mib(xs[-1])}, max {mib(max(xs))}")
            if parts:
                p(f"  peak RSS of each `cnictl {verb}` process (wait4 ru_maxrss, MiB): " + "; ".join(parts))
        if soak.cli_res.get("attach_maxrss_kib"):
            p(f"  (floor of that method, /bin/true: {mib(soak.cli_res['spawn_floor_kib'])} MiB)")
    if soak.final is not None:
        print_snapshots("after `cnictl net rm`", [soak.final], own=False)
    p("")
    p("targets")
    width = max([44] + [len(c["check"]) for c in checks])
    for c in checks:
        verdict = "n/a" if c["pass"] is None else ("PASS" if c["pass"] else "FAIL")
        v = c["value"]
        value = "-" if v is None else (f"{v:.2f}" if c["unit"] else f"{v:g}")
        p(f"  {c['check']:<{width}} {value:>8}{c['unit']:<4}  target {c['target']:<10} {verdict}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=2000, help="library attach/detach cycles (default 2000)")
    ap.add_argument("--cli-cycles", type=int, default=300, help="CLI attach/detach cycles (default 300, 0: skip)")
    ap.add_argument("--quick", action="store_true", help="200 library and 30 CLI cycles (overrides both)")
    ap.add_argument("--cnictl", help="cnictl executable (default: next to this Python)")
    ap.add_argument("--json", metavar="FILE", help="write every figure (snapshots, per-cycle times) to FILE")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.cycles, args.cli_cycles = 200, 30
    if not args.worker and (args.cycles <= WARMUP_CYCLES or args.cli_cycles < 0):
        ap.error(f"--cycles must be above the warm-up ({WARMUP_CYCLES}), --cli-cycles 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args.worker, WORKERS)
    if os.geteuid() != 0:
        print("soak.py: needs root (creates network namespaces)", file=sys.stderr)
        return 2
    sigterm_as_interrupt()
    env = harness_environment()
    before = root_snapshot()
    soak = Soak(args)
    if not os.access(soak.cnictl, os.X_OK):
        print(f"soak.py: {soak.cnictl} is not executable (give --cnictl PATH)", file=sys.stderr)
        shutil.rmtree(soak.tmp, ignore_errors=True)
        return 2
    status, fatal, problems = guarded_run(soak.run, soak.cleanup, before)
    env["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    checks = build_targets(soak)
    print_report(soak, checks, env)
    print("")
    if fatal:
        print(f"RUN STOPPED: {fatal}")
    if soak.errors:
        print(f"correctness: {len(soak.errors)} violation(s):")
        for e in soak.errors[:30]:
            print(f"  {e}")
    else:
        print("correctness: every attach got an address in the subnet; with one port published the snapshot saw one "
              "record, reservation, claim, veth, eth0 and two map elements: OK")
    if problems:
        print("cleanup: PROBLEMS: " + "; ".join(problems))
    else:
        print(f"cleanup: all {len(soak.created)} namespaces of this run and {soak.tmp} removed; root namespace "
              f"links, routes, nft ruleset and ip_forward={before['ip_forward']} unchanged: OK")
    if args.json:
        doc = {"environment": env,
               "params": {"cycles": args.cycles, "cli_cycles": args.cli_cycles, "pool": POOL, "warmup": WARMUP_CYCLES,
                          "check_every": CHECK_EVERY, "port_every": PORT_EVERY, "subnet": SUBNET},
               "library": soak.library, "cli": soak.cli_res, "after_net_rm": soak.final, "targets": checks,
               "correctness_errors": soak.errors, "cleanup_problems": problems, "stopped": fatal}
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json}")
    if status == 0 and (soak.errors or problems):
        status = 1
    return status


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
