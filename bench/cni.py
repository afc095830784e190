"""Benchmark: one CNI ADD + one DEL of the cnictl plugin, against the reference bridge + host-local plugins.

Both plugins are executed exactly as a container runtime executes them: a fresh process per call, the
CNI_* variables in the environment and the network configuration on stdin (for DEL, with prevResult set
to the ADD result).

* cnictl:    the launcher that `cnictl.cni.install.install` writes into a temporary plugin directory
             (`DIR/cnictl`: /bin/sh exec'ing this venv's python -I -m cnictl.cni.plugin), with
             {"type": "cnictl", "network": NET, "stateDir": ...} for a network made beforehand with
             `cnictl --netns HOST --state-dir DIR net create NET --subnet ...`.
* reference: /usr/lib/cni/bridge with ipam host-local (isGateway, dataDir in the temporary directory;
             --ref-ipmasq adds ipMasq).

All calls are spawned by one worker process (subprocess.run, timed with perf_counter around it) that
setns's into the side's host namespace before each call, so the exec cost is counted the same way for
both sides and no `ip netns exec`/`nsenter` is paid. The calls alternate between the two sides (ADD
cnictl, ADD reference, DEL cnictl, DEL reference; the next container starts with the other side) to
cancel drift. Every container gets its own namespace, created beforehand (not timed).

Context printed with the figures: python's bare start-up (`-c pass`, `-I -c pass`, `-I -S -c pass`),
`CNI_COMMAND=VERSION` of both plugins, and `python -X importtime` of a real ADD and DEL (start-up
imports, the cumulative import of cnictl.cni.plugin, what ADD/DEL import after it).

Isolation: namespaces named cb<pid>{h,r,c<i>,d<i>,w<i>,v<i>,i<i>} (cnictl host, reference host,
cnictl containers, reference containers, warm-ups, import-time runs); state, IPAM and the plugin
directory live in a temporary directory. All of it is removed in `finally`, also on Ctrl-C and SIGTERM.
The root network namespace is never changed: the worker refuses to exec a plugin unless it is in one of
the run's host namespaces.

Run as root:  .venv/bin/python bench/cni.py [--n 30] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attach import (
    check_distinct,
    check_ipam,
    environment,
    fmt,
    pctl,
    verify_attached,
    verify_detached,
)
from harness import NETNS_DIR, BenchError, Driver, guarded_run, ms_since, root_snapshot, run_worker, sigterm_as_interrupt

CNI_DIR = "/usr/lib/cni"
PATH_ENV = "/usr/sbin:/usr/bin:/sbin:/bin"
NET = "cnibench"
SUBNET = "10.97.0.0/16"
REF_NET = "refnet"
REF_BRIDGE = "refbr0"
REF_SUBNET = "10.98.0.0/16"
SIDES = ("cnictl", "reference")
VERBS = ("ADD", "DEL", "ADD+DEL")
TARGET_RATIO = 2.0  # issue 10, target 8: cnictl-cni ADD+DEL median within 2x of the reference's (same run)
TARGET_LABEL = f"cnictl-cni ADD+DEL <= {TARGET_RATIO:g}x the reference bridge+host-local"
IMPORT_PROBE = "import cnictl.cni.plugin as p; p.main()"  # what the launcher runs, with the module import visible


# ------------------------------------------------------------------------------------------------
# python -X importtime
# ------------------------------------------------------------------------------------------------
def parse_importtime(stderr: str) -> list[tuple[int, str, float]]:
    """(depth, module, cumulative ms) of every line of `python -X importtime` output, in order."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header
        text = parts[2].rstrip()
        depth = (len(text) - len(text.lstrip()) - 1) // 2
        out.append((depth, text.strip(), int(parts[1]) / 1000.0))
    return out


def split_importtime(entries: list[tuple[int, str, float]], module: str = "cnictl.cni.plugin") -> dict[str, Any]:
    """Start-up imports (before `module`), `module`'s cumulative, and what was imported after it."""
    top = [(name, cum) for depth, name, cum in entries if depth == 0]
    idx = next((i for i, (name, _cum) in enumerate(top) if name == module), None)
    if idx is None:
        raise BenchError(f"importtime: no top-level import of {module} found")
    after = sorted(top[idx + 1:], key=lambda t: -t[1])
    return {
        "startup_ms": sum(cum for _n, cum in top[:idx]),
        "editable_finder_ms": sum(cum for _d, name, cum in entries if name.startswith("__editable__")),
        "site_ms": sum(cum for name, cum in top[:idx] if name == "site"),
        "plugin_ms": top[idx][1],
        "after_ms": sum(cum for _n, cum in after),
        "after_top": [[name, round(cum, 2)] for name, cum in after[:6]],
        "total_ms": sum(cum for _n, cum in top),
    }


# ------------------------------------------------------------------------------------------------
# the worker: installs the launcher, then spawns every plugin call from inside the host namespaces
# ------------------------------------------------------------------------------------------------
class Caller:
    """Spawns plugin calls from this process, entering the side's host namespace first (untimed)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from cnictl.cni.install import install

        inst = install(spec["plugdir"])
        self.launcher = inst["path"]
        exec_line = next(line for line in inst["launcher"].splitlines() if line.startswith("exec "))
        self.python = shlex.split(exec_line)[1]  # the interpreter the launcher runs
        self.cni_path = f"{spec['plugdir']}:{CNI_DIR}"
        self.exe = {"cnictl": self.launcher, "reference": f"{CNI_DIR}/bridge"}
        self.conf: dict[str, dict[str, Any]] = {
            "cnictl": {"cniVersion": "1.0.0", "name": NET, "type": "cnictl", "network": NET, "stateDir": spec["state"]},
            "reference": {
                "cniVersion": "1.0.0", "name": REF_NET, "type": "bridge", "bridge": REF_BRIDGE, "isGateway": True,
                **({"ipMasq": True} if spec["ref_ipmasq"] else {}),
                "ipam": {"type": "host-local", "dataDir": spec["hl"], "ranges": [[{"subnet": REF_SUBNET}]],
                         "routes": [{"dst": "0.0.0.0/0"}]},
            },
        }
        own = os.stat("/proc/thread-self/ns/net")
        self.home = (own.st_dev, own.st_ino)  # the root namespace: never exec a plugin here
        self.fds = {side: os.open(f"{NETNS_DIR}/{spec['hosts'][side]}", os.O_RDONLY | os.O_CLOEXEC) for side in SIDES}
        self.ids = {}
        for side, fd in self.fds.items():
            st = os.fstat(fd)
            self.ids[side] = (st.st_dev, st.st_ino)
            if self.ids[side] == self.home:
                raise BenchError(f"host namespace of {side} is the root namespace")

    def enter(self, side: str) -> None:
        from cnictl.netns import setns_fd

        setns_fd(self.fds[side])
        st = os.stat("/proc/thread-self/ns/net")
        now = (st.st_dev, st.st_ino)
        if now != self.ids[side] or now == self.home:
            raise BenchError(f"setns into the {side} host namespace did not take: refusing to exec a plugin")

    def env(self, command: str, container: str) -> dict[str, str]:
        return {"CNI_COMMAND": command, "CNI_CONTAINERID": container, "CNI_NETNS": f"{NETNS_DIR}/{container}",
                "CNI_IFNAME": "eth0", "CNI_PATH": self.cni_path, "PATH": PATH_ENV}

    def call(self, side: str, command: str, container: str, prev: dict[str, Any] | None = None,
             argv: list[str] | None = None) -> tuple[float, dict[str, Any], str]:
        """One plugin exec, timed; returns (ms, parsed stdout, stderr)."""
        self.enter(side)
        conf = self.conf[side] if prev is None else {**self.conf[side], "prevResult": prev}
        data = json.dumps(conf).encode()
        env = self.env(command, container)
        cmd = argv or [self.exe[side]]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, input=data, env=env, capture_output=True, check=False)
        ms = ms_since(t0)
        if proc.returncode != 0:
            why = (proc.stdout or proc.stderr).decode(errors="replace").strip()[-400:]
            raise BenchError(f"{side} {command} {container} failed (exit {proc.returncode}): {why}")
        out = proc.stdout.decode().strip()
        return ms, (json.loads(out) if out else {}), proc.stderr.decode(errors="replace")

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)


def _address(result: dict[str, Any]) -> str:
    ips = result.get("ips") or []
    return ips[0]["address"] if ips else "none"


def worker_measure(spec: dict[str, Any]) -> dict[str, Any]:
    import cnictl.netlink.client  # noqa: F401 - loaded before any timing (used by the checks between calls)

    c = Caller(spec)
    ipam = {"cnictl": Path(spec["state"]) / "ipam" / NET, "reference": Path(spec["hl"]) / REF_NET}
    subnet = {"cnictl": SUBNET, "reference": REF_SUBNET}
    res: dict[str, Any] = {"errors": [], "launcher": c.launcher, "launcher_text": Path(c.launcher).read_text(),
                           "launcher_python": c.python}
    res["launcher_python_version"] = subprocess.run([c.python, "-c", "import sys; print(sys.version.split()[0])"],
                                                    capture_output=True, text=True, check=False).stdout.strip()
    try:
        def cycle(i: int, pair: dict[str, str], sink: dict[str, dict[str, list[float]]] | None) -> None:
            order = SIDES if i % 2 == 0 else SIDES[::-1]
            results: dict[str, dict[str, Any]] = {}
            for side in order:
                ms, results[side], _err = c.call(side, "ADD", pair[side])
                if sink is not None:
                    sink[side]["add_ms"].append(ms)
            for side in order:
                what = f"{side} ADD"
                res["errors"].extend(check_distinct({pair[side]: _address(results[side])}, subnet[side], what))
                res["errors"].extend(verify_attached({pair[side]: _address(results[side])}, what))
                res["errors"].extend(check_ipam(ipam[side], 1, what))
            for side in order:
                ms, _out, _err = c.call(side, "DEL", pair[side], prev=results[side])
                if sink is not None:
                    sink[side]["del_ms"].append(ms)
            for side in order:
                res["errors"].extend(verify_detached([pair[side]], f"{side} DEL"))
                res["errors"].extend(check_ipam(ipam[side], 0, f"{side} DEL"))
            if sink is not None:
                res.setdefault("addresses", []).append({side: _address(results[side]) for side in SIDES})

        # warm-up: the first ADD of each side creates its bridge; page cache, .pyc files
        for i, pair in enumerate(spec["warmup"]):
            cycle(i, pair, None)

        # exec floors and python start-up, round-robin so drift hits every command alike
        floors: dict[str, list[float]] = {}
        probes: list[tuple[str, str, list[str], str | None]] = [
            ("/bin/true", "cnictl", ["/bin/true"], None),
            ("python -c pass", "cnictl", [c.python, "-c", "pass"], None),
            ("python -I -c pass", "cnictl", [c.python, "-I", "-c", "pass"], None),
            ("python -I -S -c pass", "cnictl", [c.python, "-I", "-S", "-c", "pass"], None),
            ("cnictl launcher VERSION", "cnictl", [c.launcher], "VERSION"),
            ("bridge VERSION", "reference", [f"{CNI_DIR}/bridge"], "VERSION"),
        ]
        for _rep in range(spec["floor_reps"]):
            for label, side, argv, command in probes:
                c.enter(side)
                env = {"PATH": PATH_ENV, **({"CNI_COMMAND": command} if command else {})}
                t0 = time.perf_counter()
                proc = subprocess.run(argv, input=b'{"cniVersion":"1.0.0"}', env=env, capture_output=True, check=False)
                ms = ms_since(t0)
                if proc.returncode != 0:
                    raise BenchError(f"{label} failed (exit {proc.returncode}): {proc.stderr.decode()[-300:]}")
                floors.setdefault(label, []).append(ms)
        res["floors"] = floors

        # the measurement: N containers per side, calls alternating between the sides
        sink: dict[str, dict[str, list[float]]] = {side: {"add_ms": [], "del_ms": []} for side in SIDES}
        for i, pair in enumerate(spec["pairs"]):
            cycle(i, pair, sink)
        res["samples"] = sink

        # import time of a real ADD and DEL (untimed as wall: -X importtime itself slows the imports)
        probe = [c.python, "-X", "importtime", "-I", "-c", IMPORT_PROBE]
        imports: dict[str, list[dict[str, Any]]] = {"ADD": [], "DEL": []}
        for name in spec["import_ns"]:
            _ms, out, err = c.call("cnictl", "ADD", name, argv=probe)
            imports["ADD"].append(split_importtime(parse_importtime(err)))
            _ms, _out, err = c.call("cnictl", "DEL", name, prev=out, argv=probe)
            imports["DEL"].append(split_importtime(parse_importtime(err)))
            res["errors"].extend(check_ipam(ipam["cnictl"], 0, "importtime DEL"))
        res["imports"] = imports
    finally:
        c.close()
    return res


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"measure": worker_measure}


# ------------------------------------------------------------------------------------------------
# the driver (root namespace: only creates/removes its own namespaces and starts processes)
# ------------------------------------------------------------------------------------------------
class CniBench(Driver):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(f"cb{os.getpid()}", __file__, args.cnictl)
        self.args = args
        self.res: dict[str, Any] = {}

    def ours(self, name: str) -> bool:
        rest = name[len(self.run_id):]
        return name.startswith(self.run_id) and rest[:1] in ("h", "r", "c", "d", "w", "v", "i")

    def run(self) -> None:
        a = self.args
        hosts = {"cnictl": f"{self.run_id}h", "reference": f"{self.run_id}r"}
        pairs = [{"cnictl": f"{self.run_id}c{i}", "reference": f"{self.run_id}d{i}"} for i in range(a.n)]
        warmup = [{"cnictl": f"{self.run_id}w{i}", "reference": f"{self.run_id}v{i}"} for i in range(a.warmup)]
        import_ns = [f"{self.run_id}i{i}" for i in range(a.import_runs)]
        names = list(hosts.values()) + [p[s] for p in pairs + warmup for s in SIDES] + import_ns
        print(f"run {self.run_id}: creating {len(names)} namespaces (untimed) ...", flush=True)
        self.ns_add(names)
        state = self.tmp / "state"
        cmd = [self.cnictl, "--netns", hosts["cnictl"], "--state-dir", str(state), "--json",
               "net", "create", NET, "--subnet", SUBNET]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNICTL_")}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[:400]}")
        print(f"{a.warmup} warm-up cycles, {a.floor_reps} x start-up probes, {a.n} interleaved ADD/DEL cycles per side, "
              f"{a.import_runs} importtime runs ...", end=" ", flush=True)
        t0 = time.perf_counter()
        self.res = self.worker("measure", hosts=hosts, pairs=pairs, warmup=warmup, import_ns=import_ns,
                               plugdir=str(self.tmp / "plugins"), state=str(state), hl=str(self.tmp / "hl"),
                               ref_ipmasq=a.ref_ipmasq, floor_reps=a.floor_reps)
        print(f"{time.perf_counter() - t0:.1f} s", flush=True)

    def cleanup(self) -> list[str]:
        problems = super().cleanup()
        if self.tmp.exists():  # a plugin process killed mid-call may still have been writing: once more
            time.sleep(0.5)
            problems = super().cleanup()
        return problems


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def stats(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0, "median": None, "p90": None}
    return {"n": len(samples), "median": statistics.median(samples), "p90": pctl(samples, 0.9)}


def build_report(res: dict[str, Any]) -> dict[str, Any]:
    samples = res.get("samples")
    if not samples:
        return {}
    verbs: dict[str, dict[str, Any]] = {}
    for side in SIDES:
        add, dele = samples[side]["add_ms"], samples[side]["del_ms"]
        both = [x + y for x, y in zip(add, dele, strict=True)]
        verbs[side] = {"ADD": stats(add), "DEL": stats(dele), "ADD+DEL": stats(both), "add+del_ms": both}
    ratio = {}
    for verb in VERBS:
        cm, rm = verbs["cnictl"][verb]["median"], verbs["reference"][verb]["median"]
        ratio[verb] = cm / rm if cm and rm else None
    pairs = [x / y for x, y in zip(verbs["cnictl"]["add+del_ms"], verbs["reference"]["add+del_ms"], strict=True)]
    value = ratio["ADD+DEL"]
    target = {"check": TARGET_LABEL, "ratio_of": "cnictl ADD+DEL median / reference ADD+DEL median", "value": value,
              "target": f"<= {TARGET_RATIO:g}x", "pass": None if value is None else value <= TARGET_RATIO}
    floors = {k: stats(v) for k, v in (res.get("floors") or {}).items()}
    imports: dict[str, Any] = {}
    for verb, runs in (res.get("imports") or {}).items():
        if runs:
            keys = ("startup_ms", "site_ms", "editable_finder_ms", "plugin_ms", "after_ms", "total_ms")
            imports[verb] = {k: statistics.median(r[k] for r in runs) for k in keys}
            imports[verb]["runs"] = len(runs)
            imports[verb]["after_top"] = runs[len(runs) // 2]["after_top"]
    return {
        "verbs": {side: {v: verbs[side][v] for v in VERBS} for side in SIDES},
        "ratio": ratio,
        "pair_ratio": {"median": statistics.median(pairs), "min": min(pairs), "max": max(pairs),
                       "over_target": sum(p > TARGET_RATIO for p in pairs)},
        "target": target,
        "floors": floors,
        "imports": imports,
        "samples": {side: {k: [round(x, 3) for x in v] for k, v in samples[side].items()} for side in SIDES},
    }


def print_report(bench: CniBench, report: dict[str, Any], env: dict[str, Any]) -> None:
    p = print
    res = bench.res
    p("")
    p(f"cnictl CNI plugin benchmark  run {bench.run_id}  {env['kernel']}  {env['cpus']} CPUs  "
      f"load {env['load_start']} -> {env['load_end']}  {env['started']}")
    if not report:
        return
    p(f"cnictl:    {res['launcher']} ({res['launcher_text'].splitlines()[-1]}), python {res['launcher_python_version']}")
    ipmasq = ", ipMasq" if bench.args.ref_ipmasq else ""
    p(f"reference: {CNI_DIR}/bridge + host-local (isGateway{ipmasq}), containernetworking-plugins {env['cni_plugins']}")
    p(f"one fresh process per call, spawned by one worker that setns's into the side's host namespace; calls "
      f"alternate between the sides; {bench.args.n} containers per side, each in its own namespace")
    p("")
    hdr = f"{'ms':<8} {'n':>4}  {'cnictl':>8} {'p90':>8}   {'reference':>9} {'p90':>8}   {'cnictl/ref':>10}"
    p(hdr)
    p("-" * len(hdr))
    v = report["verbs"]
    for verb in VERBS:
        c, r = v["cnictl"][verb], v["reference"][verb]
        p(f"{verb:<8} {c['n']:>4}  {fmt(c['median']):>8} {fmt(c['p90']):>8}   {fmt(r['median']):>9} {fmt(r['p90']):>8}   "
          f"{fmt(report['ratio'][verb], 2):>9}x")
    pr = report["pair_ratio"]
    p(f"ADD+DEL ratio of the back-to-back pairs: median {pr['median']:.2f}x, range {pr['min']:.2f}-{pr['max']:.2f}x")
    t = report["target"]
    verdict = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
    p(f"target: {TARGET_LABEL} (ratio of the medians, this run): {fmt(t['value'], 2)}x {verdict}")
    p("")
    p(f"start-up, same spawn path (median / p90 of {bench.args.floor_reps}, ms):")
    for label, s in report["floors"].items():
        p(f"  {label:<26} {fmt(s['median'], 2):>7} {fmt(s['p90'], 2):>7}")
    imp = report["imports"]
    if imp:
        p("")
        p(f"python -X importtime of the plugin (-I -c '{IMPORT_PROBE}', median of {imp['ADD']['runs']} runs, "
          "cumulative ms; -X importtime inflates it a little):")
        for verb in ("ADD", "DEL"):
            m = imp.get(verb)
            if not m:
                continue
            top = ", ".join(f"{n} {ms:.1f}" for n, ms in m["after_top"][:4])
            p(f"  {verb}: interpreter start-up imports {m['startup_ms']:.1f} (site {m['site_ms']:.1f}, of it the "
              f"editable-install finder {m['editable_finder_ms']:.1f}); import cnictl.cni.plugin {m['plugin_ms']:.1f}; "
              f"imported by {verb} after it {m['after_ms']:.1f} ({top}); total {m['total_ms']:.1f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30, help="containers per side (default 30)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed ADD/DEL cycles per side first (default 2)")
    ap.add_argument("--floor-reps", type=int, default=15, help="execs of each start-up probe (default 15)")
    ap.add_argument("--import-runs", type=int, default=3, help="ADD/DEL runs under -X importtime (default 3, 0: skip)")
    ap.add_argument("--ref-ipmasq", action="store_true", help="give the reference bridge ipMasq too (default: isGateway only)")
    ap.add_argument("--cnictl", help="cnictl executable for `net create` (default: next to the venv's python)")
    ap.add_argument("--json", metavar="FILE", help="write every figure (and raw samples) to FILE")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not args.worker and (args.n < 1 or args.warmup < 0 or args.floor_reps < 1 or args.import_runs < 0):
        ap.error("--n and --floor-reps need at least 1; --warmup and --import-runs at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args.worker, WORKERS)
    if os.geteuid() != 0:
        print("cni.py: needs root (creates network namespaces)", file=sys.stderr)
        return 2
    if not os.access(f"{CNI_DIR}/bridge", os.X_OK) or not os.access(f"{CNI_DIR}/host-local", os.X_OK):
        print(f"cni.py: {CNI_DIR}/bridge or host-local not found (apt-get install containernetworking-plugins)",
              file=sys.stderr)
        return 2

    sigterm_as_interrupt()
    env = environment()
    before = root_snapshot()
    bench = CniBench(args)
    if not os.access(bench.cnictl, os.X_OK):
        print(f"cni.py: {bench.cnictl} is not executable (give --cnictl PATH)", file=sys.stderr)
        bench.cleanup()
        return 2
    status, fatal, problems = guarded_run(bench.run, bench.cleanup, before)
    env["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    report = build_report(bench.res)
    print_report(bench, report, env)
    print("")
    if fatal:
        print(f"RUN STOPPED: {fatal}")
    if bench.errors:
        print(f"correctness: {len(bench.errors)} violation(s):")
        for err in bench.errors[:30]:
            print(f"  {err}")
    elif report:
        print("correctness: every ADD gave an address in its subnet, on eth0, with one reservation; every DEL left "
              "no eth0 and no reservation: OK")
    if problems:
        print("cleanup: PROBLEMS: " + "; ".join(problems))
    else:
        print(f"cleanup: all {len(bench.created)} namespaces of this run and {bench.tmp} removed; root namespace "
              f"links, routes, nft ruleset and ip_forward={before['ip_forward']} unchanged: OK")
    if args.json:
        doc = {"environment": env,
               "params": {"n": args.n, "warmup": args.warmup, "floor_reps": args.floor_reps,
                          "import_runs": args.import_runs, "ref_ipmasq": args.ref_ipmasq},
               "launcher": {k: bench.res.get(k) for k in ("launcher_text", "launcher_python", "launcher_python_version")},
               **report, "addresses": bench.res.get("addresses", []),
               "correctness_errors": bench.errors, "cleanup_problems": problems, "stopped": fatal}
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json}")
    if status == 0 and (bench.errors or problems):
        status = 1
    return status


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
