"""Start-up cost of `cnictl-cni` (issue 10, target 8): standard-library modules kept off the plugin's path.

The plugin is one fresh process per ADD/DEL, so every module imported at start-up is paid on every call.
Each case runs a fresh `python -I -S` (as the installed launcher does, see cnictl.cni.install), imports
what the ADD and DEL paths import, and reads sys.modules. No timing is asserted: only which modules load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Never imported by the ADD/DEL path (nor by importing its modules): each costs ~0.5-3 ms per call, or pulls
# enum/typing in. ctypes is loaded on the first libc call (setns), not at import; JSON goes through
# cnictl.jsonlite (the _json accelerator without the json package).
OFF_THE_PATH = (
    "json", "threading", "ctypes", "signal", "socket", "selectors", "shlex", "importlib", "struct", "typing",
    "dataclasses", "inspect", "subprocess", "logging", "tempfile", "asyncio", "pyroute2", "typer", "click",
    "pydantic", "rich",
    # string paths (os.path, cnictl.host.Dirs) rather than pathlib, whose import brings re (and with it
    # enum), urllib.parse, fnmatch and ntpath; names and MACs are checked with str methods (cnictl.model.is_name)
    "pathlib", "re", "enum", "urllib", "urllib.parse", "fnmatch", "ntpath",
    # context managers are small classes (fsutil.locked, netns.entered, plan.deferred_signals, ...); the port
    # and firewall modules are imported by an ADD or DEL that has published ports, not by every one
    "contextlib", "cnictl.ports", "cnictl.ops.ports", "cnictl.firewall", "collections.abc",
)
# Not even imported by `import cnictl.cni.plugin` and a VERSION (what every error before the verb pays too):
# no regular expression is compiled, so neither re nor enum loads.
OFF_THE_PLUGIN_IMPORT = ("re", "enum", "functools", "collections", "pathlib", "ipaddress", "contextlib",
                         "collections.abc", "cnictl.host", "cnictl.store")


def loaded(code: str, tmp_path: Path) -> set[str]:
    """sys.modules after running *code* in `python -I -S` with this checkout first on sys.path."""
    prog = f"import sys; sys.path[:0] = [{str(ROOT)!r}]\n{textwrap.dedent(code)}\n" \
           "print('modules:', ' '.join(sorted(sys.modules)))"  # printed without importing anything
    p = subprocess.run([sys.executable, "-I", "-S", "-c", prog], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    last = p.stdout.splitlines()[-1]
    assert last.startswith("modules: "), p.stdout
    return set(last.split()[1:])


def test_the_probe_sees_imports(tmp_path: Path) -> None:
    """Guard against a vacuous pass: the probe does see a module that is imported."""
    assert "socket" in loaded("import socket", tmp_path)
    assert "cnictl.cni.plugin" in loaded("import cnictl.cni.plugin", tmp_path)


def test_plugin_import_is_small(tmp_path: Path) -> None:
    mods = loaded("""
        import cnictl.cni.plugin as plugin
        code, out = plugin.run({"CNI_COMMAND": "VERSION"}, b'{"cniVersion": "0.4.0"}')
        assert code == 0 and b'"cniVersion": "0.4.0"' in out, out
        """, tmp_path)
    assert not sorted(mods & set(OFF_THE_PATH + OFF_THE_PLUGIN_IMPORT))


def test_add_and_del_paths_stay_light(tmp_path: Path) -> None:
    """A real DEL (of a network that is not there: nothing to do, no root needed), a VERSION, and the
    modules an ADD and a DEL go on to import (ops.attach, ops.detach_container, the bridge driver,
    the state store, host-local IPAM, netlink steps)."""
    state = tmp_path / "state"
    conf = json.dumps({"cniVersion": "1.0.0", "name": "nosuch", "type": "cnictl", "stateDir": str(state)})
    mods = loaded(f"""
        import cnictl.cni.plugin as plugin
        env = {{"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0", "CNI_NETNS": "",
                "CNI_PATH": "/usr/lib/cni"}}
        code, out = plugin.run(env, {conf!r}.encode())
        assert code == 0 and out == b"", (code, out)
        code, out = plugin.run({{"CNI_COMMAND": "VERSION"}}, b"")
        assert code == 0, out
        from cnictl import ops
        ops.attach, ops.detach_container, ops.find_attachment
        from cnictl.drivers import get_driver
        get_driver("bridge")
        import cnictl.fsutil, cnictl.host, cnictl.ipam.allocator, cnictl.ipam.hostlocal, cnictl.netns
        import cnictl.netlink.rtnl, cnictl.netlink.steps, cnictl.plan, cnictl.ipam.steps, cnictl.store
        import cnictl.cni.environ
        """, tmp_path)
    assert {"cnictl.store", "cnictl.ipam.hostlocal", "cnictl.netlink.rtnl"} <= mods  # the probe ran
    assert not sorted(mods & set(OFF_THE_PATH))


def _outcome(f: Any, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    try:
        return ("ok", repr(f(*args, **kwargs)))
    except Exception as e:  # noqa: BLE001 - the same error, in the same words, is the point
        return ("error", type(e), str(e))


def test_jsonlite_is_json() -> None:
    """cnictl.jsonlite gives json's text, values and errors (random documents, odd inputs, odd types)."""
    import enum
    import random

    from cnictl import jsonlite

    class Num(enum.IntEnum):
        A = 1

    class Text(str):
        pass

    rnd = random.Random(10)
    atoms = [None, True, False, 0, -1, 2**70, 1.5, -0.0, 1e300, float("nan"), float("inf"), float("-inf"), "", "a",
             "é", "\u2028", "\x00\x1f", '"\\', "\ud800", "日本", Num.A, Text("s"), 3.0]

    def doc(depth: int = 0) -> Any:
        r = rnd.random()
        if depth > 4 or r < 0.4:
            return rnd.choice(atoms)
        if r < 0.7:
            return [doc(depth + 1) for _ in range(rnd.randint(0, 4))]
        if r < 0.75:
            return tuple(doc(depth + 1) for _ in range(rnd.randint(0, 3)))
        keys = ["k", "é", "", "x y", 1, 2.5, None, True] if r < 0.8 else ["k", "é", "", "x y", "z"]
        return {rnd.choice(keys): doc(depth + 1) for _ in range(rnd.randint(0, 4))}

    for _ in range(3000):
        o = doc()
        for indent in (None, 0, 1, 2):
            assert _outcome(jsonlite.dumps, o, indent=indent) == _outcome(json.dumps, o, indent=indent)
        text = json.dumps(o)
        for t in (text, f" \n{text}\t ", text.encode(), text.encode("utf-16"), b"\xef\xbb\xbf" + text.encode(),
                  "\ufeff" + text, text + " x", text[:-1], text.encode("utf-32-le")):
            assert _outcome(jsonlite.loads, t) == _outcome(json.loads, t), t
    cycle: list[Any] = []
    cycle.append(cycle)
    deep: list[Any] = []
    inner = deep
    for _ in range(300):
        inner.append([])
        inner = inner[0]
    for o in (cycle, deep, {1: 2}, object(), Text("x"), {"a": Num.A}):
        for indent in (None, 1):
            assert _outcome(jsonlite.dumps, o, indent=indent) == _outcome(json.dumps, o, indent=indent)
    for t in ("", " ", "nul", "[1,]", '{"a":1,}', '"\\x"', '"a\nb"', "[" * 5000 + "]" * 5000, "NaN", "-Infinity",
              "1e999", "01", "1.", "[1 2]", b"\xff\xff", b"", bytearray(b"[1]"), 5, None, "[1]\x00"):
        assert _outcome(jsonlite.loads, t) == _outcome(json.loads, t), t
