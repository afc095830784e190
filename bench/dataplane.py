"""Benchmark: data-plane throughput and latency of the paths cnictl builds, against the same paths built by hand with ip.

Three paths, each between two "container" namespaces, each built twice in the same run:

* bridge:  veth + bridge in a host namespace. cnictl: `cnictl --netns H net create` + `attach` ×2 (default
           nftables firewall). Hand: `ip link add br-dpbr type bridge`, two veth pairs on it, addresses,
           routes, and the same NAT/isolation rules typed in with `nft -f` (the commands cnictl's --dry-run
           prints), since any network behind NAT pays conntrack; `--hand-bare` leaves them out.
* macvlan: two macvlan children (mode bridge) of a parent that is one end of a veth pair inside the host
           namespace (both ends up). cnictl: `net create --driver macvlan --parent p0` + `attach` ×2.
           Hand: `ip link add link p0 name mvX type macvlan mode bridge`, moved into each namespace.
* veth:    a direct veth pair. cnictl: `cnictl link add A:eth1 B:eth1 --address1 .. --address2 ..`.
           Hand: `ip -n A link add eth1 type veth peer name eth1 netns B`, addresses, up.

For every path both topologies exist side by side (separate namespaces, same addresses). Each repetition
measures every metric on both, back to back, alternating which goes first (A B, then B A, ...) to cancel
drift and foreign load: ping RTT (`ping -c 200 -i 0.002`, the interquartile mean of the replies' times),
then iperf3 TCP with 1 stream and with 4 streams (`-P 4`), `-t SECONDS -O OMIT`, received bits/s, each
against a fresh one-off server. The figures are medians over the repetitions; the ratio cnictl/hand is
taken per metric, with the target: cnictl within 5 % of the hand-built path (throughput >= 0.95x,
RTT <= 1.05x). `--fw-none` adds a third bridge build, cnictl with `--firewall none`, to separate the cost
of cnictl's nftables rules from the rest of the path.

Isolation: every namespace is named dp<pid>{b,m,v}{c,h,n}{h,a,b} (path, builder, role) and is removed at the
end, also on failure, Ctrl-C or SIGTERM; iperf3 servers are stopped by PID; cnictl's state lives in a
temporary directory. The machine's own namespace is only read (snapshot before/after), never changed.

Run as root:  .venv/bin/python bench/dataplane.py [--seconds 2] [--runs 3] [--paths bridge,macvlan,veth] [--json FILE]
Smoke run:    .venv/bin/python bench/dataplane.py --quick          (--seconds 1 --runs 1 --omit 0 --pings 50)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from harness import BenchError, Driver, command_output, guarded_run, root_snapshot, sigterm_as_interrupt
from harness import environment as harness_environment

PATHS = ("bridge", "macvlan", "veth")
BUILDERS = ("cnictl", "hand")
SHOWN = {"cnictl": "cnictl", "hand": "ip", "nofw": "cnictl-nofw"}
LABEL = {"bridge": "veth+bridge", "macvlan": "macvlan bridge", "veth": "direct veth"}
PREFIX = {"bridge": "10.201.0", "macvlan": "192.168.77", "veth": "10.203.0"}
METRICS = (("gbps_1", "1 stream Gbit/s", "higher"), ("gbps_4", "4 streams Gbit/s", "higher"),
           ("rtt_us", "ping RTT us", "lower"))
TARGET = 0.05
IPERF_PORT = 5201
TIME_RE = re.compile(r"time=([\d.]+) ms")
LOSS_RE = re.compile(r"([\d.]+)% packet loss")


@dataclass
class Topo:
    path: str
    builder: str
    host: str
    client: str
    server: str
    server_ip: str
    setup_s: float = 0.0
    samples: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in
                                                                      ("gbps_1", "gbps_4", "rtt_us", "retr_1", "retr_4",
                                                                       "loss_pct")})


class Bench(Driver):
    def __init__(self, args: argparse.Namespace, log: TextIO) -> None:
        super().__init__(f"dp{os.getpid()}", __file__, args.cnictl)
        self.args = args
        self.log = log
        self.topos: dict[str, dict[str, Topo]] = {}
        self.skipped: dict[str, str] = {}
        self.servers: list[subprocess.Popen[bytes]] = []

    # ---- names -------------------------------------------------------------------------------------
    def ns(self, path: str, builder: str, role: str) -> str:
        return f"{self.run_id}{path[0]}{builder[0]}{role}"

    def ours(self, name: str) -> bool:
        rest = name[len(self.run_id):]
        return (name.startswith(self.run_id) and len(rest) == 3 and rest[0] in "bmv" and rest[1] in "chn"
                and rest[2] in "hab")

    # ---- commands ----------------------------------------------------------------------------------
    def say(self, text: str, end: str = "\n") -> None:
        self.log.write(text + end)
        self.log.flush()

    def run(self, *argv: str, timeout: float = 60) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout,
                              env={k: v for k, v in os.environ.items() if not k.startswith("CNICTL_")})
        if proc.returncode != 0:
            raise BenchError(f"{' '.join(argv)} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[:400]}")
        return proc.stdout

    def ip(self, ns: str, *args: str) -> str:
        return self.run("ip", "-n", ns, *args)

    def cli(self, host: str, state: str, *args: str) -> Any:
        return json.loads(self.run(self.cnictl, "--netns", host, "--state-dir", state, "--json", *args) or "null")

    def macvlan_support(self) -> str | None:
        """Why the macvlan path cannot run with this cnictl (None: it can)."""
        helptext = self.run(self.cnictl, "net", "create", "--help")
        if "--parent" not in helptext:
            return "this cnictl has no `net create --driver macvlan --parent` yet"
        return None

    # ---- topologies --------------------------------------------------------------------------------
    def build(self, path: str, builder: str) -> Topo:
        host, a, b = (self.ns(path, builder, r) for r in "hab")
        self.ns_add([host, a, b])
        for n in (host, a, b):
            self.ip(n, "link", "set", "lo", "up")
        t0 = time.perf_counter()
        server_ip = getattr(self, f"build_{path}")(builder, host, a, b)
        topo = Topo(path, builder, host, a, b, server_ip, setup_s=time.perf_counter() - t0)
        # reachability (and ARP) before anything is timed
        self.run("ip", "netns", "exec", topo.client, "ping", "-q", "-c", "3", "-i", "0.05", "-W", "1", topo.server_ip)
        return topo

    def state(self, path: str) -> str:
        return str(self.tmp / f"state-{path}")

    def build_bridge(self, builder: str, host: str, a: str, b: str) -> str:
        p = PREFIX["bridge"]
        if builder in ("cnictl", "nofw"):
            st = self.state(f"bridge-{builder}")
            fw = ["--firewall", "none"] if builder == "nofw" else []
            self.cli(host, st, "net", "create", "dpbr", "--subnet", f"{p}.0/24", *fw)
            self.cli(host, st, "attach", "dpbr", a)
            return str(self.cli(host, st, "attach", "dpbr", b)["addresses"][0].split("/")[0])
        br = "br-dpbr"  # cnictl's name, so the same rules apply word for word
        if not self.args.hand_bare:
            self.hand_firewall(host, f"{p}.0/24")  # first: cnictl's dry run wants no br-dpbr yet
        self.ip(host, "link", "add", br, "type", "bridge")
        self.ip(host, "addr", "add", f"{p}.1/24", "dev", br)
        self.ip(host, "link", "set", br, "up")
        for i, ns in enumerate((a, b)):
            self.ip(host, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            self.ip(host, "link", "set", f"v{i}", "master", br, "up")
            self.ip(ns, "addr", "add", f"{p}.{2 + i}/24", "dev", "eth0")
            self.ip(ns, "link", "set", "eth0", "up")
            self.ip(ns, "route", "add", "default", "via", f"{p}.1")
        return f"{p}.3"

    def hand_firewall(self, host: str, subnet: str) -> None:
        """The same NAT/isolation rules and forwarding sysctl a bridge network needs, entered by hand: the nft
        commands `cnictl --dry-run net create` prints (a network behind NAT pays conntrack whoever builds it)."""
        scratch = str(self.tmp / "dry-run-state")
        plan = self.run(self.cnictl, "--netns", host, "--state-dir", scratch, "--dry-run", "net", "create", "dpbr",
                        "--subnet", subnet)
        rules = [m.group(1) for m in re.finditer(r"^ip netns exec \S+ nft '(.*)'$", plan, flags=re.M)]
        if not rules:
            raise BenchError("cnictl --dry-run net create printed no nft commands to replay")
        subprocess.run(["ip", "netns", "exec", host, "nft", "-f", "-"], input="\n".join(rules) + "\n", text=True,
                       check=True, capture_output=True, timeout=30)
        self.run("ip", "netns", "exec", host, "sysctl", "-qw", "net.ipv4.conf.all.forwarding=1")

    def build_macvlan(self, builder: str, host: str, a: str, b: str) -> str:
        p = PREFIX["macvlan"]
        # the parent: one end of a veth pair inside the host namespace, both ends up (PERF.md 6 (b))
        self.ip(host, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
        self.ip(host, "link", "set", "p0", "up")
        self.ip(host, "link", "set", "p1", "up")
        if builder == "cnictl":
            st = self.state("macvlan")
            mode = ["--mode", "bridge"] if "--mode" in self.run(self.cnictl, "net", "create", "--help") else []
            self.cli(host, st, "net", "create", "dpmv", "--driver", "macvlan", "--parent", "p0", "--subnet", f"{p}.0/24",
                     *mode)
            self.cli(host, st, "attach", "dpmv", a)
            return str(self.cli(host, st, "attach", "dpmv", b)["addresses"][0].split("/")[0])
        for i, ns in enumerate((a, b)):
            self.ip(host, "link", "add", "link", "p0", "name", f"mv{i}", "type", "macvlan", "mode", "bridge")
            self.ip(host, "link", "set", f"mv{i}", "netns", ns)
            self.ip(ns, "link", "set", f"mv{i}", "name", "eth0")
            self.ip(ns, "addr", "add", f"{p}.{2 + i}/24", "dev", "eth0")
            self.ip(ns, "link", "set", "eth0", "up")
        return f"{p}.3"

    def build_veth(self, builder: str, host: str, a: str, b: str) -> str:
        p = PREFIX["veth"]
        if builder == "cnictl":
            self.cli(host, self.state("veth"), "link", "add", f"{a}:eth1", f"{b}:eth1",
                     "--address1", f"{p}.1/24", "--address2", f"{p}.2/24")
            return f"{p}.2"
        self.ip(a, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1", "netns", b)
        for ns, i in ((a, 1), (b, 2)):
            self.ip(ns, "addr", "add", f"{p}.{i}/24", "dev", "eth1")
            self.ip(ns, "link", "set", "eth1", "up")
        return f"{p}.2"

    def start_server(self, topo: Topo) -> subprocess.Popen[bytes]:
        """A one-off iperf3 server (`-1`) for one measurement. A fresh process each time: a long-lived server
        keeps landing on the same CPU (wake-up affinity), which gave one of two identical builds a steady
        10-15 % edge for a whole run."""
        proc = subprocess.Popen(["ip", "netns", "exec", topo.server, "iperf3", "-s", "-1", "-p", str(IPERF_PORT)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.servers.append(proc)  # `ip netns exec` execs iperf3 itself: this PID is the server's
        deadline = time.monotonic() + 5
        while f":{IPERF_PORT} " not in self.run("ip", "netns", "exec", topo.server, "ss", "-Hltn"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"iperf3 server in {topo.server} did not start")
            time.sleep(0.02)
        return proc

    def stop_servers(self) -> None:
        for proc in self.servers:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.servers.clear()

    # ---- measurements ------------------------------------------------------------------------------
    def ping(self, topo: Topo) -> None:
        """RTT of one ping run: the interquartile mean of the per-reply times. ping prints whole microseconds (its
        summary too) and these RTTs are only 5-15 us; a mean of a hundred jittery values resolves well below 1 us,
        and leaving out the fastest and slowest quarters keeps the scheduler's hiccups on a shared VM out."""
        out = self.run("ip", "netns", "exec", topo.client, "ping", "-c", str(self.args.pings), "-i", "0.002",
                       "-W", "1", topo.server_ip, timeout=60)
        times = [float(t) for t in TIME_RE.findall(out)]
        loss = LOSS_RE.search(out)
        if not times:
            raise BenchError(f"ping from {topo.client} gave no RTT: {out.strip()[-200:]}")
        ordered = sorted(times)
        q = len(ordered) // 4
        kept = ordered[q: len(ordered) - q] or ordered  # interquartile mean: robust, and finer than ping's 1 us
        topo.samples["rtt_us"].append(statistics.fmean(kept) * 1000.0)
        topo.samples["loss_pct"].append(float(loss.group(1)) if loss else 100.0)

    def iperf(self, topo: Topo, streams: int) -> None:
        argv = ["ip", "netns", "exec", topo.client, "iperf3", "-c", topo.server_ip, "-p", str(IPERF_PORT), "-J",
                "-t", str(self.args.seconds), "-O", str(self.args.omit), "-P", str(streams)]
        if self.args.affinity:
            argv += ["-A", self.args.affinity]
        server = self.start_server(topo)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                                  timeout=self.args.seconds + self.args.omit + 30)
        finally:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            self.servers.remove(server)
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            raise BenchError(f"iperf3 in {topo.client} printed no JSON ({proc.returncode}): {proc.stderr.strip()[:300]}") \
                from None
        if "error" in doc or proc.returncode != 0:
            raise BenchError(f"iperf3 {topo.client} -> {topo.server_ip}: {doc.get('error', proc.returncode)}")
        end = doc["end"]
        topo.samples[f"gbps_{streams}"].append(end["sum_received"]["bits_per_second"] / 1e9)
        topo.samples[f"retr_{streams}"].append(float(end["sum_sent"].get("retransmits", 0)))

    def measure(self, topos: dict[str, Topo], rep: int) -> None:
        """One repetition: each metric on every topology back to back, the order rotating (A B, B A, B A, A B, ...)."""
        jobs = [self.ping, lambda t: self.iperf(t, 1), lambda t: self.iperf(t, 4)]
        names = list(topos)
        for i, job in enumerate(jobs):
            k = (rep + i) % len(names)
            for b in names[k:] + names[:k]:
                job(topos[b])

    # ---- the run -----------------------------------------------------------------------------------
    def run_all(self) -> None:
        for index, path in enumerate(self.args.paths):
            if path == "macvlan":
                reason = self.macvlan_support()
                if reason:
                    self.skipped[path] = reason
                    self.say(f"{LABEL[path]}: SKIPPED: {reason}")
                    continue
            t0 = time.perf_counter()
            builders = list(BUILDERS) + (["nofw"] if path == "bridge" and self.args.fw_none else [])
            # which build is made first alternates from path to path: on the direct veth path (identical objects)
            # the build made first measured a few % slower in 7 of 11 runs: chance, or not
            first = builders if index % 2 == 0 else builders[::-1]
            self.say(f"{LABEL[path]}: building ({', '.join(SHOWN[b] for b in first)}) ...", end=" ")
            made = {b: self.build(path, b) for b in first}
            pair = {b: made[b] for b in builders}
            self.topos[path] = pair
            self.say(", ".join(f"{SHOWN[b]} {t.setup_s:.2f} s" for b, t in pair.items()) + "; measuring", end="")
            for r in range(self.args.runs):
                self.measure(pair, r)
                self.say(".", end="")
            self.stop_servers()
            self.ns_del([n for t in pair.values() for n in (t.host, t.client, t.server)])
            self.say(f" {time.perf_counter() - t0:.0f} s")


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def spread(values: list[float]) -> float | None:
    """(max - min) / median: how much one builder's own repetitions disagree."""
    if len(values) < 2:
        return None
    med = statistics.median(values)
    return (max(values) - min(values)) / med if med else None


def build_report(bench: Bench) -> dict[str, Any]:
    results: dict[str, Any] = {}
    targets: list[dict[str, Any]] = []
    for path, pair in bench.topos.items():
        results[path] = {}
        for b, topo in pair.items():
            results[path][b] = {
                "setup_s": round(topo.setup_s, 3),
                "median": {k: statistics.median(v) for k, v in topo.samples.items() if v},
                "spread": {k: spread(topo.samples[k]) for k, _, _ in METRICS},
                "samples": {k: [round(x, 4) for x in v] for k, v in topo.samples.items()},
            }
        for key, label, better in METRICS:
            c = results[path]["cnictl"]["median"].get(key)
            h = results[path]["hand"]["median"].get(key)
            ratio = c / h if c is not None and h else None
            ok = None if ratio is None else (ratio >= 1 - TARGET if better == "higher" else ratio <= 1 + TARGET)
            noise = max((s for s in (results[path][b]["spread"][key] for b in BUILDERS) if s is not None), default=None)
            # repetition r of each build ran back to back: their ratio shares the machine's conditions of the moment
            paired = [x / y for x, y in zip(pair["cnictl"].samples[key], pair["hand"].samples[key], strict=False) if y]
            if "nofw" in pair:
                n = results[path]["nofw"]["median"].get(key)
                results[path].setdefault("nofw_over_hand", {})[key] = n / h if n is not None and h else None
            bound = f">= {1 - TARGET:.2f}" if better == "higher" else f"<= {1 + TARGET:.2f}"
            targets.append({"path": path, "metric": key, "label": label, "cnictl": c, "hand": h, "ratio": ratio,
                            "target": bound, "pass": ok, "noise": noise, "paired_ratios": [round(x, 4) for x in paired]})
    return {"results": results, "targets": targets, "skipped": bench.skipped}


def fmt(v: float | None, digits: int = 2, unit: str = "") -> str:
    return "-" if v is None else f"{v:.{digits}f}{unit}"


def print_report(bench: Bench, report: dict[str, Any], env: dict[str, Any], out: TextIO) -> None:
    def p(text: str = "") -> None:
        out.write(text + "\n")

    args = bench.args
    p("")
    p(f"cnictl data-plane benchmark  run {bench.run_id}  kernel {env['kernel']}  {env['cpus']} CPUs  "
      f"load {env['load_start']} -> {env.get('load_end', '?')}  {env['started']}")
    p(f"iperf3 {env['iperf3']}: TCP, -t {args.seconds} -O {args.omit}, 1 and 4 streams (-P 4), received Gbit/s; "
      f"ping -c {args.pings} -i 0.002, interquartile mean RTT of the replies;")
    p(f"{args.runs} repetition(s), each metric measured on every build back to back in alternating order; "
      "medians, [min-max] over repetitions")
    p("")
    hdr = f"{'path':<15} {'builder':<11} {'1 stream Gbit/s':>24} {'4 streams Gbit/s':>24} {'ping RTT us':>20} {'setup s':>8}"
    p(hdr)
    p("-" * len(hdr))
    for path, per in report["results"].items():
        for b in [b for b in per if b in SHOWN]:
            r = per[b]
            cells = []
            for key, _, _ in METRICS:
                vals = r["samples"][key]
                digits = 1 if key == "rtt_us" else 2
                rng = f"[{fmt(min(vals), digits)}-{fmt(max(vals), digits)}]" if len(vals) > 1 else ""
                cells.append(f"{fmt(r['median'].get(key), digits)} {rng}".strip())
            name = LABEL[path] if b == "cnictl" else ""
            p(f"{name:<15} {SHOWN[b]:<11} {cells[0]:>24} {cells[1]:>24} {cells[2]:>20} {fmt(r['setup_s']):>8}")
        ratios = {t["metric"]: t for t in report["targets"] if t["path"] == path}
        cells = [fmt(ratios[k]["ratio"], 3, "x") for k, _, _ in METRICS]
        p(f"{'':<15} {'cnictl/ip':<11} {cells[0]:>24} {cells[1]:>24} {cells[2]:>20}")
        if "nofw_over_hand" in per:
            cells = [fmt(per["nofw_over_hand"].get(k), 3, "x") for k, _, _ in METRICS]
            p(f"{'':<15} {'nofw/ip':<11} {cells[0]:>24} {cells[1]:>24} {cells[2]:>20}")
    if "veth" in report["results"]:
        p("direct veth: cnictl and ip make identical kernel objects there, so its ratios show this run's noise floor")
    if any("nofw" in per for per in report["results"].values()):
        p("cnictl-nofw: the same cnictl network made with --firewall none (no nftables rules, so no conntrack)")
    for path, reason in report["skipped"].items():
        p(f"{LABEL[path]:<15} skipped: {reason}")
    p("")
    p("target: cnictl within 5 % of the hand-built path (throughput ratio >= 0.95, RTT ratio <= 1.05)")
    for t in report["targets"]:
        verdict = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        pr, limit = t["paired_ratios"], float(t["target"].split()[1])
        if t["pass"] is not None and len(pr) > 1 and min(pr) < limit < max(pr):
            verdict += " (noisy: pairs on both sides)"
        pr = t["paired_ratios"]
        noise = (f"  back-to-back pairs {min(pr):.2f}-{max(pr):.2f}x, repetitions of one build differ by up to "
                 f"{t['noise'] * 100:.0f} %") if len(pr) > 1 and t["noise"] is not None else ""
        p(f"  {LABEL[t['path']]:<15} {t['label']:<17} cnictl/ip {fmt(t['ratio'], 3, 'x'):>7}  {t['target']:<7} "
          f"{verdict}{noise}")
    retr = []
    for path, per in report["results"].items():
        for b in [b for b in per if b in SHOWN]:
            m = per[b]["median"]
            if "retr_1" in m:
                retr.append(f"{LABEL[path]}/{SHOWN[b]} {fmt(m.get('retr_1'), 0)}/{fmt(m.get('retr_4'), 0)}")
    if retr:
        p("TCP retransmits per run, median (1/4 streams): " + "; ".join(retr))
    losses = [f"{LABEL[path]}/{SHOWN[b]}" for path, per in report["results"].items() for b in per
              if b in SHOWN and per[b]["median"].get("loss_pct", 0) > 0]
    if losses:
        p("ping loss seen on: " + ", ".join(losses))


def environment() -> dict[str, Any]:
    first = command_output("iperf3", "--version").splitlines()
    bnf = "/proc/sys/net/bridge/bridge-nf-call-iptables"
    return harness_environment(
        iperf3=first[0].split()[1] if first and len(first[0].split()) > 1 else "?",
        bridge_nf_call_iptables=Path(bnf).read_text().strip() if os.path.exists(bnf) else "n/a",
    )


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=2, help="iperf3 -t per measurement (default 2)")
    ap.add_argument("--omit", type=int, default=1, help="iperf3 -O: seconds of warm-up left out (default 1)")
    ap.add_argument("--runs", type=int, default=3, help="repetitions per builder, alternating (default 3)")
    ap.add_argument("--pings", type=int, default=200, help="ping count per measurement, 2 ms apart (default 200)")
    ap.add_argument("--paths", default=",".join(PATHS), help="subset of bridge,macvlan,veth")
    ap.add_argument("--hand-bare", action="store_true",
                    help="build the hand-made bridge path without the NAT/isolation rules (by default it gets the "
                         "same nft rules, typed in from cnictl's --dry-run, so both sides pay conntrack)")
    ap.add_argument("--fw-none", action="store_true",
                    help="bridge path: also measure a cnictl network made with --firewall none (attributes the cost of "
                         "cnictl's nftables rules, which bring conntrack onto bridged traffic)")
    ap.add_argument("--affinity", default="", help="iperf3 -A CLIENT,SERVER CPU pinning, e.g. 0,1 (default: none)")
    ap.add_argument("--quick", action="store_true", help="smoke run: --seconds 1 --omit 0 --runs 1 --pings 50")
    ap.add_argument("--cnictl", help="cnictl executable (default: next to this Python)")
    ap.add_argument("--json", metavar="FILE", help="write every figure (and raw samples) to FILE ('-': stdout, and the "
                                                   "table goes to stderr)")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.omit, args.runs, args.pings = 1, 0, 1, 50
    args.paths = [x.strip() for x in args.paths.split(",") if x.strip()]
    bad = [x for x in args.paths if x not in PATHS]
    if bad:
        ap.error(f"unknown path(s) {', '.join(bad)}; choose from {', '.join(PATHS)}")
    if args.seconds < 1 or args.omit < 0 or args.runs < 1 or args.pings < 1:
        ap.error("--seconds, --runs and --pings must be at least 1, --omit at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("dataplane.py: needs root (creates network namespaces)", file=sys.stderr)
        return 2
    for tool in ("iperf3", "ping", "ss"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            print(f"dataplane.py: {tool} not found (apt-get install iperf3 iputils-ping iproute2)", file=sys.stderr)
            return 2

    sigterm_as_interrupt()
    to_stdout = args.json == "-"
    report_out = sys.stderr if to_stdout else sys.stdout
    env = environment()
    before = root_snapshot()
    bench = Bench(args, sys.stderr)
    if not os.access(bench.cnictl, os.X_OK):
        print(f"dataplane.py: {bench.cnictl} is not executable (give --cnictl PATH)", file=sys.stderr)
        bench.cleanup()
        return 2
    t0 = time.perf_counter()

    def cleanup() -> list[str]:
        bench.stop_servers()
        return bench.cleanup()

    status, fatal, problems = guarded_run(bench.run_all, cleanup, before, (BenchError, subprocess.TimeoutExpired))
    env["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    env["wall_s"] = round(time.perf_counter() - t0, 1)
    report = build_report(bench)
    print_report(bench, report, env, report_out)
    report_out.write(f"\nwall time {env['wall_s']} s\n")
    if fatal:
        report_out.write(f"RUN STOPPED: {fatal}\n")
    if problems:
        report_out.write("cleanup: PROBLEMS: " + "; ".join(problems) + "\n")
        status = status or 1
    else:
        report_out.write(f"cleanup: all {len(bench.created)} namespaces of this run, its iperf3 servers and {bench.tmp} "
                         "removed; root namespace links, routes, nft ruleset and ip_forward unchanged: OK\n")
    if args.json:
        doc = {"environment": env, "params": {k: getattr(args, k) for k in ("seconds", "omit", "runs", "pings", "paths")},
               **report, "cleanup_problems": problems, "stopped": fatal}
        text = json.dumps(doc, indent=1) + "\n"
        if to_stdout:
            sys.stdout.write(text)
        else:
            Path(args.json).write_text(text)
            report_out.write(f"wrote {args.json}\n")
    return status


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
