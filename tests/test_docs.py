"""The documentation cannot rot: its code runs, its command lines parse, and it builds cleanly.

* Every ``.. code-block:: python`` of every page under ``docs/`` runs, page by page, its blocks
  in order in one namespace, in a temporary directory (the tutorials write files), so an API
  change that breaks a tutorial fails here.  Each block must run and print something (the
  pages print their results instead of asserting them: they are read by people).
* Every ``$ cimqb-traj ...`` line of a ``console`` block parses with the program's own parser.
* ``sphinx-build -W`` (warnings are errors: a broken cross-reference or a malformed docstring
  fails) builds the HTML; skipped where Sphinx is not installed (``pip install ".[docs]"``;
  the ``test`` extra has it, so CI builds the docs).
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)
_CODE = re.compile(r"^\.\. (?:code-block|code|sourcecode):: *(\S*) *$")


def code_blocks(text: str, language: str = "python") -> list[str]:
    """The bodies of the ``.. code-block:: LANGUAGE`` directives of reST ``text``, in order
    (directive options such as ``:caption:`` skipped, the indentation removed)."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _CODE.match(lines[i])
        i += 1
        if not m or m.group(1) not in ({language, "python3"} if language == "python" else {language}):
            continue
        while i < len(lines) and re.match(r"^\s+:\w[\w-]*:", lines[i]):  # directive options
            i += 1
        body = []
        while i < len(lines) and (not lines[i].strip() or lines[i][:1].isspace()):
            body.append(lines[i])
            i += 1
        indent = min((len(x) - len(x.lstrip()) for x in body if x.strip()), default=0)
        blocks.append("\n".join(x[indent:] for x in body).strip("\n"))
    return blocks


def _name(page: Path) -> str:
    return str(page.relative_to(DOCS))


def test_parser_finds_every_block():
    """The parser sees every python block (a directive it missed would be a page never run)."""
    text = ".. code-block:: python\n   :caption: x\n\n   a = 1\n\n   b = 2\n\ntext\n\n" \
           ".. code-block:: text\n\n   not python\n\n.. code-block:: python\n\n  print(a)\n"
    assert code_blocks(text) == ["a = 1\n\nb = 2", "print(a)"]
    for page in PAGES:
        text = page.read_text()
        n = sum(1 for line in text.splitlines() if (m := _CODE.match(line)) and m.group(1) in ("python", "python3"))
        assert len(code_blocks(text)) == n, _name(page)
    tutorials = [p for p in PAGES if p.parent.name == "tutorials"]
    assert len(tutorials) >= 5 and all(code_blocks(p.read_text()) for p in tutorials)


RUNNABLE = [p for p in PAGES if code_blocks(p.read_text())]


@pytest.mark.parametrize("page", RUNNABLE, ids=_name)
def test_page_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__docs__"}
    for k, block in enumerate(code_blocks(page.read_text()), 1):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(block, f"{_name(page)} block {k}", "exec"), namespace)
            except Exception as e:
                raise AssertionError(f"{_name(page)}, code block {k} failed: {type(e).__name__}: {e}\n{block}") from e
        assert out.getvalue().strip(), f"{_name(page)}, code block {k} printed nothing"


def _console_commands() -> list[tuple[str, str]]:
    cmds = []
    for page in PAGES:
        for block in code_blocks(page.read_text(), "console"):
            cmds += [(_name(page), line[2:]) for line in block.splitlines() if line.startswith("$ cimqb-traj")]
    return cmds


def test_console_commands_parse():
    from cimqb_traj.cli import build_parser

    cmds = _console_commands()
    assert cmds, "no '$ cimqb-traj' lines found in any console block"
    for page, line in cmds:
        argv = shlex.split(line)[1:]
        try:
            build_parser().parse_args(argv)
        except (Exception, SystemExit) as e:
            raise AssertionError(f"{page}: {line!r} does not parse: {e}") from e


def test_sphinx_build_has_no_warning(tmp_path):
    pytest.importorskip("sphinx", reason="the docs build needs Sphinx: pip install '.[docs]'")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(DOCS),
                           str(tmp_path / "html")], capture_output=True, text=True)
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    assert (tmp_path / "html" / "api.html").exists()
