"""Sphinx configuration of the cimqb_traj documentation.

Plain reStructuredText, the built-in alabaster theme and Sphinx's own extensions only (autodoc,
napoleon for the numpydoc docstrings, mathjax for ``.. math::``, viewcode): ``pip install -e
".[docs]"`` installs all of it.  Build (warnings are errors, as the tests build it)::

    sphinx-build -W -b html docs docs/_build/html

``.. cli-help:: COMMAND`` (defined below) prints ``cimqb-traj COMMAND --help`` from the parser
itself, so the command-line page never disagrees with the program.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, installed or not

import cimqb_traj  # noqa: E402

project = "cimqb_traj"
author = "the cimqb_traj developers"
copyright = "the cimqb_traj developers (BSD-3-Clause)"
version = release = cimqb_traj.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
exclude_patterns = ["_build"]
# Cross-references must resolve (a broken :func:, :mod:, :doc: fails the -W build), except the
# types the docstrings name in prose ("array of shape (n,)", "Qobj", "path-like"): numpydoc
# types are free text and there is no inventory of numpy / qutip / xarray offline.
nitpicky = True
nitpick_ignore_regex = [(r"py:class", r".*")]
html_theme = "alabaster"
html_static_path: list[str] = []
html_theme_options = {"description": "a quantum battery in a degenerate optical parametric oscillator"}

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False


# ---- plain-text mathematics in the docstrings -----------------------------------------------
# The package's docstrings write formulas as plain text, to be read in a terminal (``help()``,
# an editor): |x| for a modulus, |psi><psi| for a projector, lambda_- for an index.  To reST the
# first two are substitution references and the third a hyperlink reference, each a build error
# (and a formula that vanishes from the page).  This hook escapes those characters outside
# literals, roles and math / literal blocks, so the page shows the text as written; reST markup
# proper (``literals``, :func:`roles`, .. math::) passes unchanged.  A plain-text bullet list that
# ends without a blank line gets one (reST needs it; a reader of the source does not).

_SPANS = re.compile(r"(``.+?``|:[\w:.-]+:`[^`]*`|`[^`]*`_{0,2})")
_BULLET = re.compile(r"^(\s*)[*-] ")


def _escape_text(piece: str) -> str:
    piece = piece.replace("|", "\\|")
    return re.sub(r"(\w)_(?![\w`])", r"\1\\_", piece)


def _escape_line(line: str) -> str:
    parts = _SPANS.split(line)
    return "".join(p if i % 2 else _escape_text(p) for i, p in enumerate(parts))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def plain_text_docstring(lines: list[str]) -> list[str]:
    """The docstring ``lines`` with plain-text formulas escaped for reST (see above)."""
    out: list[str] = []
    block = None  # indentation of the line that opened a literal or math block
    bullet = None  # indentation of the bullet item being read
    for line in lines:
        if not line.strip():
            out.append(line)
            bullet = None
            continue
        ind = _indent(line)
        if block is not None and ind > block:
            out.append(line)
            continue
        block = None
        m = _BULLET.match(line)
        if bullet is not None and not m and ind <= bullet:
            out.append("")  # end the list before the paragraph that follows it
        bullet = len(m.group(1)) if m else (bullet if bullet is not None and ind > bullet else None)
        stripped = line.strip()
        if stripped.endswith("::") or stripped.startswith(".. "):
            block = ind
        out.append(line if stripped.startswith(".. ") else _escape_line(line))
    return out


def _process_docstring(app, what, name, obj, options, lines):
    lines[:] = plain_text_docstring(lines)


class CliHelp(SphinxDirective):
    """``.. cli-help:: charge``: the help text of ``cimqb-traj charge``, formatted by the
    package's own argparse parser at build time; no argument: of ``cimqb-traj`` itself;
    ``all``: every command, each under a rubric (a new command appears by itself)."""

    optional_arguments = 1

    def run(self):
        import argparse

        from cimqb_traj.cli import build_parser

        parser = build_parser()
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        commands = subs[0].choices if subs else {}
        name = self.arguments[0] if self.arguments else None
        if name is None:
            return [self._block(parser.format_help())]
        if name == "all":
            out = []
            for cmd, sub in commands.items():
                out += [nodes.rubric(text=f"cimqb-traj {cmd}"), self._block(sub.format_help())]
            return out
        if name not in commands:
            raise self.error(f"cimqb-traj has no command {name!r} (it has {', '.join(commands)})")
        return [self._block(commands[name].format_help())]

    @staticmethod
    def _block(text):
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return block


def setup(app):
    app.add_directive("cli-help", CliHelp)
    app.connect("autodoc-process-docstring", _process_docstring)
    return {"parallel_read_safe": True}
