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

ROOT = Path(__file__).resolve().parents[2]

# Never imported by the ADD/DEL path (nor by importing its modules): each costs ~0.5-3 ms per call, or pulls
# enum/typing in. ctypes is loaded on the first libc call (setns), not at import; JSON goes through
# cnictl.cni.jsonlite (the _json accelerator without the json package).
OFF_THE_PATH = (
    "json", "threading", "ctypes", "signal", "socket", "selectors", "shlex", "importlib", "struct", "typing",
    "dataclasses", "inspect", "subprocess", "logging", "tempfile", "asyncio", "pyroute2", "typer", "click",
    "pydantic", "rich",
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
