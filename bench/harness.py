"""What the benchmarks share: the driver that owns a run's namespaces and temp directory, and the worker
protocol (a spec file in, a result file out) for the parts that must run inside a namespace.

The driver stays in the root network namespace and only creates and removes its own namespaces (names
that start with the run id) and starts processes; every network change happens in a worker process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

NETNS_DIR = "/run/netns"


class BenchError(Exception):
    """A step of the benchmark failed; the run stops (and cleans up)."""


def ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def run_worker(spec_path: str, workers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> int:
    """Worker side: run the job a spec file names and write its result (or why it failed) for the driver."""
    spec = json.loads(Path(spec_path).read_text())
    try:
        res = workers[spec["kind"]](spec)
    except BenchError as e:
        res = {"fatal": str(e)}
    except Exception as e:  # noqa: BLE001 - report anything to the driver, which stops the run
        res = {"fatal": f"{type(e).__name__}: {e}"}
    Path(spec["out"]).write_text(json.dumps(res))
    return 1 if "fatal" in res else 0


class Driver:
    """A run's namespaces, temp directory and worker processes; subclasses say which names are theirs."""

    def __init__(self, run_id: str, script: str, cnictl: str | None) -> None:
        self.run_id = run_id
        self.script = os.path.abspath(script)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
        venv_python = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
        # exec the venv's binaries directly: a pyenv `python3` shim would add ~80 ms to every exec
        self.python = str(venv_python) if venv_python.exists() else sys.executable
        self.cnictl = cnictl or str(Path(self.python).parent / "cnictl")
        self.created: set[str] = set()
        self.errors: list[str] = []
        self._seq = 0

    def ours(self, name: str) -> bool:
        raise NotImplementedError

    # ---- namespaces (ip -batch: one exec for many; the driver never changes its own namespace) -----
    def ns_add(self, names: list[str]) -> None:
        for name in names:
            if not self.ours(name):
                raise BenchError(f"refusing to create namespace {name}: not one of this run's names")
        self.created.update(names)
        proc = subprocess.run(["ip", "-batch", "-"], input="".join(f"netns add {n}\n" for n in names),
                              text=True, capture_output=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"ip netns add failed: {proc.stderr.strip()}")

    def ns_del(self, names: list[str]) -> None:
        names = [n for n in names if self.ours(n) and os.path.exists(f"{NETNS_DIR}/{n}")]
        if names:
            subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in names),
                           text=True, capture_output=True, check=False)
        for n in names:
            if os.path.exists(f"{NETNS_DIR}/{n}"):
                subprocess.run(["ip", "netns", "del", n], capture_output=True, check=False)

    def leftover_ns(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(NETNS_DIR) if self.ours(n))
        except FileNotFoundError:
            return []

    # ---- processes --------------------------------------------------------------------------------
    def worker(self, kind: str, live_stderr: bool = False, **spec: Any) -> dict[str, Any]:
        """Run one job in a fresh process of this benchmark's script (`--worker SPEC`) and return its result.
        *live_stderr*: the worker's stderr (its progress lines) goes to ours instead of being captured."""
        self._seq += 1
        spec_path = self.tmp / f"job{self._seq}.json"
        out_path = self.tmp / f"job{self._seq}.out.json"
        spec.update(kind=kind, out=str(out_path))
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.run([self.python, self.script, "--worker", str(spec_path)], stdout=subprocess.PIPE,
                              stderr=None if live_stderr else subprocess.PIPE, text=True, check=False)
        if not out_path.exists():
            raise BenchError(f"{kind} worker died (exit {proc.returncode}): {(proc.stderr or '').strip()[-800:]}")
        res: dict[str, Any] = json.loads(out_path.read_text())
        if "fatal" in res:
            raise BenchError(f"{kind} worker: {res['fatal']}")
        self.errors += res.get("errors", [])
        return res

    def cleanup(self) -> list[str]:
        self.ns_del(sorted(self.created | set(self.leftover_ns())))
        shutil.rmtree(self.tmp, ignore_errors=True)
        problems = [f"namespace {n} is still there" for n in self.leftover_ns()]
        if self.tmp.exists():
            problems.append(f"{self.tmp} is still there")
        return problems


# ------------------------------------------------------------------------------------------------
# root namespace guard: read-only snapshots before and after
# ------------------------------------------------------------------------------------------------
def root_snapshot() -> dict[str, str]:
    def out(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        except FileNotFoundError:
            return "(not available)"

    links = "\n".join(line.split("\\")[0] for line in out("ip", "-o", "link").splitlines())
    snap = {
        "links": links,
        "routes": out("ip", "-o", "route") + out("ip", "-o", "-6", "route"),
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
        "nft_ruleset_sha256": hashlib.sha256(out("nft", "list", "ruleset").encode()).hexdigest()[:16],
    }
    return snap


def compare_root(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [f"root namespace {k} changed: {before[k]!r} -> {after[k]!r}" for k in before if before[k] != after[k]]


def guarded_run(run: Callable[[], None], cleanup: Callable[[], list[str]], before: dict[str, str],
                errors: tuple[type[BaseException], ...] = (BenchError,)) -> tuple[int, str | None, list[str]]:
    """Run a bench and always clean up, also on Ctrl-C/SIGTERM (raised as KeyboardInterrupt) and failure:
    (exit status, why the run stopped or None, cleanup problems including root namespace changes)."""
    import signal

    status, fatal = 0, None
    try:
        run()
    except KeyboardInterrupt:
        fatal, status = "interrupted", 130
    except errors as e:
        fatal, status = str(e), 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        problems = cleanup()
        problems += compare_root(before, root_snapshot())
    return status, fatal, problems


# Spawns the command from a small process and reports that child's own rusage. Spawning it from the driver
# directly would not do: Linux keeps a process's peak RSS across exec, and a child forked (or vforked) by the driver
# starts out with the driver's resident set, so its ru_maxrss could never be below the driver's RSS. This helper is a
# bare `python -I -S`, so the floor is its RSS (/bin/true through it shows it: `spawn_floor_kib`).
_SPAWN_HELPER = """
import os, sys, time, _signal
_signal.signal(2, _signal.SIG_IGN)  # Ctrl-C: the command gets it and ends; this helper waits and reports
out, argv = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter_ns()
pid = os.fork()
if pid == 0:
    try:
        _signal.signal(2, _signal.SIG_DFL)
        os.execvp(argv[0], argv)
    except BaseException as e:
        os.write(2, f"cannot exec {argv[0]}: {e}\\n".encode())
    finally:
        os._exit(127)
_pid, status, ru = os.wait4(pid, 0)
ns = time.perf_counter_ns() - t0
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, f"{os.waitstatus_to_exitcode(status)} {ru.ru_maxrss} {ns}".encode())
os.close(fd)
"""


def run_measured(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str, str, int]:
    """Run one command to its end: (wall ms, exit status, stdout, stderr, peak RSS in KiB of that one process).

    The peak RSS is ru_maxrss of the command's own rusage from wait4 (KiB on Linux), taken by a small helper process
    that forks and execs it (see _SPAWN_HELPER): the largest resident set of that process (an `exec` keeps the pid,
    so a /bin/sh launcher that execs Python is measured as Python) or of its waited-for children. The wall time is
    the helper's fork to wait4, so the helper's own start is not in it."""
    python = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="rusage-") as res:
        proc = subprocess.Popen([str(python) if python.exists() else sys.executable, "-I", "-S", "-c", _SPAWN_HELPER,
                                 res.name, *argv], stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        try:
            rc = proc.wait()
        except BaseException:
            proc.wait()  # Ctrl-C: the command gets the same SIGINT; let it and the helper end before cleanup runs
            raise
        out.seek(0)
        err.seek(0)
        fields = Path(res.name).read_text().split()
        if rc != 0 or len(fields) != 3:
            raise BenchError(f"spawning {argv[0]} failed (helper exit {rc}): {err.read().decode(errors='replace')[-300:]}")
        return int(fields[2]) / 1e6, int(fields[0]), out.read().decode(errors="replace"), \
            err.read().decode(errors="replace"), int(fields[1])


def spawn_floor_kib() -> int:
    """The lowest peak RSS run_measured can report: that of /bin/true through the same helper."""
    return min(run_measured(["/bin/true"])[4] for _ in range(3))


def proc_status(*keys: str) -> dict[str, int]:
    """Fields of /proc/self/status given in kB (VmRSS, VmHWM, ...), in KiB."""
    out: dict[str, int] = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in keys:
                out[key] = int(rest.split()[0])
    return out


def command_output(*argv: str) -> str:
    """A tool's stdout, stripped ("?" when the tool is not installed)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except FileNotFoundError:
        return "?"


def environment(**extra: Any) -> dict[str, Any]:
    """What every bench reports about the machine, plus the bench's own *extra* facts."""
    import platform

    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        **extra,
        "load_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def sigterm_as_interrupt() -> None:
    """SIGTERM (and Ctrl-C, even when it was ignored at start) end a run like KeyboardInterrupt: it cleans up."""
    import signal

    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
