"""Docs stay true to the code: generated files are current, every command documents itself with an
example, every cnictl command line shown in docs/ parses, and the error table is complete."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import cnictl.errors
from cnictl.errors import ALL_ERRORS, CnictlError

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "run `.venv/bin/python scripts/gen_docs.py` and commit the result"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_generator()
COMMANDS: list[tuple[tuple[str, ...], Any]] = list(gen.walk(gen.root_command()))


def _title(path: tuple[str, ...]) -> str:
    return " ".join(("cnictl", *path))


# ---- generated files -------------------------------------------------------------------
@pytest.mark.parametrize(("rel", "build"), [(gen.CLI_REFERENCE, "cli_reference"), (gen.ERRORS, "errors_md")])
def test_generated_doc_is_current(rel: str, build: str) -> None:
    path = ROOT / rel
    assert path.is_file(), f"{rel} is missing: {REGENERATE}"
    expected = getattr(gen, build)()
    assert path.read_text() == expected, f"{rel} is out of date (drift from the code): {REGENERATE}"


def test_cli_reference_covers_every_command() -> None:
    text = (ROOT / gen.CLI_REFERENCE).read_text()
    for path, _ in COMMANDS:
        assert f"\n## {_title(path)}\n" in text, f"`{_title(path)}` has no section in {gen.CLI_REFERENCE}: {REGENERATE}"


# ---- every command documents itself ----------------------------------------------------
@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[_title(p) for p, _ in COMMANDS])
def test_command_has_help_and_example(path: tuple[str, ...], command: Any) -> None:
    title = _title(path)
    assert (command.help or "").strip(), f"`{title}` has no help text (give the function a docstring or help=)"
    if hasattr(command, "commands") and path:
        return  # a group: its commands carry the examples
    epilog = command.epilog or ""
    assert epilog.startswith("Example: "), f"`{title}` has no `Example:` epilog"
    assert f"{title} " in epilog + " ", f"the example of `{title}` does not run `{title}`: {epilog!r}"


def _invocations(text: str) -> list[list[str]]:
    """Every `cnictl ...` command found in shell text (prompts, sudo, env assignments and && chains handled)."""
    found = []
    for line in text.splitlines():
        line = line.strip().removeprefix("$ ")
        for segment in re.split(r"&&|\|\||;|\|", line):
            try:
                words = shlex.split(segment, comments=True)
            except ValueError:
                continue
            while words and (words[0] == "sudo" or re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0])):
                words = words[1:]
            if words and words[0] in ("cnictl", ".venv/bin/cnictl"):
                found.append([w for w in words[1:] if w != "..."])  # "..." stands for "the rest"
    return found


def _snippets(markdown: str) -> list[str]:
    """Shell text in a Markdown page: fenced code blocks and inline code spans that start with cnictl."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", markdown, flags=re.S | re.M)
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return blocks + re.findall(r"`((?:sudo )?cnictl [^`\n]*)`", prose)


def _parses(argv: list[str]) -> tuple[int, str]:
    """Exit code and output of the command line with --help added: 0 when every command and option exists."""
    from typer.testing import CliRunner

    from cnictl.cli import main, state

    if argv and argv[-1].startswith("-") and _takes_value(main, argv):
        # appending --help would make it the option's value, and the command would really run
        return 2, f"the line ends with {argv[-1]}, which needs a value"
    if "--" in argv:
        i = argv.index("--")
        argv = argv[:i] + ["--help"] + argv[i:]
    else:
        argv = argv + ["--help"]
    saved = state.JSON_ERRORS
    try:
        result = CliRunner().invoke(main.app, argv, prog_name="cnictl")
    finally:
        state.JSON_ERRORS = saved
    return result.exit_code, result.output


def _takes_value(main: Any, argv: list[str]) -> bool:
    """Whether the last word of *argv* is an option (of its command, or of the root) that takes a value."""
    import typer.main

    root: Any = typer.main.get_command(main.app)
    cmd = root
    for word in argv:
        sub = getattr(cmd, "commands", {}).get(word)
        if sub is not None:
            cmd = sub
    for c in (cmd, root):
        for param in c.params:
            if argv[-1] in list(param.opts) + list(getattr(param, "secondary_opts", [])):
                return not (getattr(param, "is_flag", False) or getattr(param, "count", False))
    return False


EXAMPLES = [(_title(p), argv) for p, c in COMMANDS for argv in _invocations((c.epilog or "").removeprefix("Example: "))]


@pytest.mark.parametrize(("title", "argv"), EXAMPLES, ids=[" ".join(a) for _, a in EXAMPLES])
def test_epilog_example_parses(title: str, argv: list[str]) -> None:
    code, output = _parses(argv)
    assert code == 0, f"the example of `{title}` does not parse: cnictl {' '.join(argv)}\n{output}"


HANDWRITTEN = sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in ("cli-reference.md", "errors.md"))


@pytest.mark.parametrize("doc", HANDWRITTEN, ids=[p.name for p in HANDWRITTEN])
def test_commands_in_docs_exist(doc: Path) -> None:
    """Every cnictl command line shown (code blocks and inline code) names real commands and options."""
    bad = []
    for snippet in _snippets(doc.read_text()):
        for argv in _invocations(snippet):
            code, output = _parses(argv)
            if code != 0:
                last = output.strip().splitlines()[-1] if output.strip() else ""
                bad.append(f"cnictl {' '.join(argv)}: {last}")
    assert not bad, f"{doc.name} shows command lines the CLI rejects:\n" + "\n".join(bad)


def test_docs_index_links_every_page() -> None:
    index = (ROOT / "docs" / "index.md").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"({page.name})" in index, f"docs/index.md does not link {page.name}"


# ---- errors ----------------------------------------------------------------------------
ROW = re.compile(r"^\| `(\w+)` \| `(\w+)` \| (\d+) \| (\d+)")


def _class_rows() -> dict[str, tuple[str, int, int]]:
    rows = {}
    for line in (ROOT / gen.ERRORS).read_text().splitlines():
        m = ROW.match(line)
        if m:
            rows[m.group(1)] = (m.group(2), int(m.group(3)), int(m.group(4)))
    return rows


def test_every_error_subclass_is_listed_in_all_errors() -> None:
    defined = {
        obj for _, obj in inspect.getmembers(cnictl.errors, inspect.isclass)
        if issubclass(obj, CnictlError) and obj.__module__ == "cnictl.errors"
    }
    missing = sorted(c.__name__ for c in defined - set(ALL_ERRORS))
    assert not missing, f"add {missing} to ALL_ERRORS in cnictl/errors.py, then {REGENERATE}"


def test_every_error_has_a_documented_row_with_its_codes() -> None:
    rows = _class_rows()
    for cls in ALL_ERRORS:
        name = cls.__name__
        assert name in rows, f"{name} has no row in docs/errors.md: {REGENERATE}"
        parent, exit_code, cni_code = rows[name]
        assert exit_code == cls.exit_code, f"docs/errors.md says {name} exits {exit_code}, the class says {cls.exit_code}"
        assert cni_code == cls.cni_code, f"docs/errors.md gives {name} CNI code {cni_code}, the class says {cls.cni_code}"
        assert parent == cls.__bases__[0].__name__
    extra = sorted(set(rows) - {c.__name__ for c in ALL_ERRORS})
    assert not extra, f"docs/errors.md documents classes that no longer exist: {extra}: {REGENERATE}"


def test_exit_code_table_matches_classes() -> None:
    text = (ROOT / gen.ERRORS).read_text()
    table = dict(re.findall(r"^\| (\d+) \| [^|]+ \| ([^|]*) \|$", text, flags=re.M))
    for cls in ALL_ERRORS:
        row = table.get(str(cls.exit_code))
        assert row is not None, f"exit code {cls.exit_code} ({cls.__name__}) is missing from the exit-code table"
        assert f"`{cls.__name__}`" in row, f"{cls.__name__} is not listed under exit code {cls.exit_code}"


def test_root_help_states_every_exit_code() -> None:
    stated = gen.exit_meanings()
    used = {cls.exit_code for cls in ALL_ERRORS}
    assert used <= set(stated), f"the root --help (cnictl.cli.main.root) does not state exit codes {sorted(used - set(stated))}"


def test_json_error_shape_matches_the_docs(tmp_path: Path) -> None:
    """A real run: with --json the error is one JSON object on stderr, nothing on stdout."""
    code = "import sys; sys.argv[0] = 'cnictl'; from cnictl.cli.main import run; run()"
    p = subprocess.run(
        [sys.executable, "-c", code, "--state-dir", str(tmp_path), "--json", "net", "inspect", "nope"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )
    assert p.returncode == 3
    assert p.stdout == ""
    err = json.loads(p.stderr)
    assert list(err) == ["error"] and list(err["error"]) == ["type", "message", "exit_code"]
    assert err["error"]["type"] == "NotFoundError" and err["error"]["exit_code"] == 3
    assert '{"error": {"type", "message", "exit_code"}}' in (ROOT / gen.ERRORS).read_text()
