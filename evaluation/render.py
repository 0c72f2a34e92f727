"""One renderer for every generated block of docs/: numbers come from results files, never by hand.

    python -m evaluation.render            # rewrite the generated blocks of docs/*.md
    python -m evaluation.render --check    # exit 1 (and name them) when a block differs from its rendering

A generated block in a Markdown file is delimited by

    <!-- BEGIN generated:NAME -->
    ...
    <!-- END generated:NAME -->

and its text is ``BLOCKS[NAME]()``, registered with ``@block(NAME)`` in ``evaluation/<family>.py``
(``evaluation/generic.py`` for blocks of every model): a function of the committed results (``docs/results/*.json``,
written by the committed scripts and training commands named in each file) and of the exported
cards.  CI runs the check (tests/test_docs_generated.py), so a pasted number that drifts from its
results file fails the build.  Add an experiment: a script that writes ``docs/results/<name>.json``
(inputs' hashes, code version, machine, load, duration, the numbers), a block function in the family's
module, and the markers where the page quotes it.
"""
from __future__ import annotations

import argparse
import glob
import importlib
import os
import pkgutil
import re
import sys

import evaluation
from evaluation.common import BLOCKS, REPO

BLOCK_RE = re.compile(r"^(?P<indent>[ \t]*)(<!-- BEGIN generated:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)"
                      r"^[ \t]*(<!-- END generated:(?P=name) -->)", re.S | re.M)


def load_blocks() -> dict:
    """Import every module of :mod:`evaluation` (each registers its blocks); the registry."""
    for mod in pkgutil.iter_modules(evaluation.__path__):
        if mod.name not in ("render", "common", "__main__"):
            importlib.import_module(f"evaluation.{mod.name}")
    return BLOCKS


def render_text(text: str) -> str:
    load_blocks()

    def sub(m):
        name, indent = m.group("name"), m.group("indent")
        if name not in BLOCKS:
            raise KeyError(f"unknown generated block {name!r} (no @block in evaluation/*.py)")
        body = "\n".join((indent + line) if line else line for line in BLOCKS[name]().rstrip("\n").split("\n"))
        return indent + m.group(2) + body + "\n" + indent + m.group(5)
    return BLOCK_RE.sub(sub, text)


def docs_files() -> list:
    return sorted(glob.glob(os.path.join(REPO, "docs", "*.md")) + [os.path.join(REPO, "README.md")])


def check() -> list:
    """Paths whose generated blocks differ from their rendering."""
    bad = []
    for p in docs_files():
        with open(p, encoding="utf-8") as fh:
            text = fh.read()
        if "<!-- BEGIN generated:" in text and render_text(text) != text:
            bad.append(os.path.relpath(p, REPO))
    return bad


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a block differs")
    a = p.parse_args(argv)
    if a.check:
        bad = check()
        for b in bad:
            print(f"{b}: a generated block differs from its rendering (python -m evaluation.render)")
        return 1 if bad else 0
    for path in docs_files():
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        new = render_text(text)
        if new != text:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(new)
            print(f"rendered {os.path.relpath(path, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
