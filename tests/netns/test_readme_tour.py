"""The README's tour, pasted as a newcomer would: every bash block from "## A tour" up to the clean-up line runs
in order in one shell, with the sandbox's names made unique. It must pass, and it must be sandboxed before
the first cnictl command (CNICTL_NETNS exported), so pasting it never acts on the machine itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import RUN, Lab

README = Path(__file__).resolve().parents[2] / "README.md"


def tour_blocks() -> list[str]:
    text = README.read_text()
    tour = text[text.index("## A tour"):text.index("Clean up the sandbox")]
    return re.findall(r"```bash\n(.*?)```", tour, flags=re.S)


def test_the_tour_is_sandboxed_before_its_first_cnictl_command() -> None:
    script = "\n".join(tour_blocks())
    first = re.search(r"^cnictl ", script, flags=re.M).start()  # type: ignore[union-attr]
    assert "export CNICTL_NETNS=" in script[:first] and "ip netns add" in script[:first]
    assert "link set lo up" in script[:first]
    assert 'export PATH="$PWD/.venv/bin:$PATH"' in script[:first]


def test_the_tour_runs_as_pasted(lab: Lab, tmp_path: Path) -> None:
    names = {w: f"t{RUN}{w}" for w in ("sandbox", "web", "db")}
    state = tmp_path / "sandbox-state"
    script = "\n".join(tour_blocks()).replace("/tmp/cnictl-sandbox", str(state))
    for word, name in names.items():
        script = re.sub(rf"\b{word}\b", name, script)
    for name in names.values():
        lab.track(name)  # removed by name afterwards, pass or fail
    root = Path(sys.executable).parents[2]
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=root, capture_output=True, text=True,
                       timeout=300, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)})
    assert p.returncode == 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert "10.20.0.50" in p.stdout  # ipam show / port ls / ping printed the tour's addresses
    assert not (Path("/etc/cni/net.d") / "cnictl-lab.conflist").exists()
