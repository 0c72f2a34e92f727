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

A figure inside a sentence is an inline value, rendered the same way from where it is defined:

    the quasars' coefficients s = (<!-- v:py:training.racnet.simulate#QSO_SIGMAS -->0.2, 0.1, 0.07<!-- /v -->)

``v:SOURCE#PATH [fmt=SPEC] [x=FACTOR] [sep=TEXT]`` (see :func:`inline_value`): SOURCE is
``results:NAME`` (``docs/results/NAME.json``), ``card:MODEL`` (``exported/MODEL/card.json``) or
``py:MODULE`` (a constant of the code: a paper's quote in ``zoo/families/<f>/paper.py``, a recipe
number, a simulator parameter); PATH walks keys, list indices and attributes, ``/``-separated.  The
HTML comments do not show on the rendered page; the text between them is rewritten from the source.
"""
from __future__ import annotations

import argparse
import glob
import importlib
import os
import pkgutil
import re
import shlex
import sys

import evaluation
from evaluation.common import BLOCKS, REPO, card, load

BLOCK_RE = re.compile(r"^(?P<indent>[ \t]*)(<!-- BEGIN generated:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)"
                      r"^[ \t]*(<!-- END generated:(?P=name) -->)", re.S | re.M)


def load_blocks() -> dict:
    """Import every module of :mod:`evaluation` (each registers its blocks); the registry."""
    for mod in pkgutil.iter_modules(evaluation.__path__):
        if mod.name not in ("render", "common", "__main__"):
            importlib.import_module(f"evaluation.{mod.name}")
    return BLOCKS


#: an inline value: ``<!-- v:SOURCE#PATH options -->text<!-- /v -->`` on one line
INLINE_RE = re.compile(r"<!-- v:(?P<spec>[^>]*?) -->(?P<body>[^\n]*?)<!-- /v -->")


def _source(src: str):
    kind, _, name = src.partition(":")
    if kind == "results":
        return load(name)
    if kind == "card":
        return card(name)
    if kind == "py":
        return importlib.import_module(name)
    raise KeyError(f"inline value source {src!r}: expected results:NAME, card:MODEL or py:MODULE")


def _walk(obj, path: str, where: str):
    for seg in [s for s in path.split("/") if s]:
        try:
            if isinstance(obj, dict):
                obj = obj[seg] if seg in obj else obj[int(seg)]
            elif isinstance(obj, (list, tuple)):
                obj = obj[int(seg)]
            else:
                obj = getattr(obj, seg)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError):
            raise KeyError(f"inline value {where!r}: no {seg!r}") from None
    return obj


def inline_value(spec: str) -> str:
    """The text of one inline value ``SOURCE#PATH [fmt=SPEC] [x=FACTOR] [sep=TEXT]``: the object at
    PATH, times FACTOR when given, formatted with ``format(value, SPEC)`` (each element of a list or
    tuple, joined by TEXT, default ``", "``)."""
    words = shlex.split(spec)
    if not words or "#" not in words[0]:
        raise KeyError(f"inline value {spec!r}: expected SOURCE#PATH")
    src, _, path = words[0].partition("#")
    opts = {}
    for w in words[1:]:
        k, eq, v = w.partition("=")
        if not eq or k not in ("fmt", "x", "sep"):
            raise KeyError(f"inline value {spec!r}: unknown option {w!r} (fmt=, x=, sep=)")
        opts[k] = v
    value = _walk(_source(src), path, spec)

    def one(v):
        if "x" in opts:
            v = v * float(opts["x"])
        return format(v, opts.get("fmt", ""))
    if isinstance(value, (list, tuple)):
        return opts.get("sep", ", ").join(one(v) for v in value)
    return one(value)


def render_text(text: str) -> str:
    load_blocks()
    text = INLINE_RE.sub(lambda m: f"<!-- v:{m.group('spec')} -->{inline_value(m.group('spec'))}<!-- /v -->", text)

    def sub(m):
        name, indent = m.group("name"), m.group("indent")
        if name not in BLOCKS:
            raise KeyError(f"unknown generated block {name!r} (no @block in evaluation/*.py)")
        body = "\n".join((indent + line) if line else line for line in BLOCKS[name]().rstrip("\n").split("\n"))
        return indent + m.group(2) + body + "\n" + indent + m.group(5)
    return BLOCK_RE.sub(sub, text)


def docs_files() -> list:
    return sorted(glob.glob(os.path.join(REPO, "docs", "*.md")) + [os.path.join(REPO, "README.md")])


def check(paths=None) -> list:
    """Paths (default: every page) whose generated blocks or inline values differ from their rendering."""
    bad = []
    for p in paths or docs_files():
        with open(p, encoding="utf-8") as fh:
            text = fh.read()
        if ("<!-- BEGIN generated:" in text or "<!-- v:" in text) and render_text(text) != text:
            bad.append(os.path.relpath(p, REPO))
    return bad


#: a figure a reader would take for a measurement: a decimal, a percentage, or a number of 3+ digits --
#: not the digits of an identifier (``sha256``, ``CCD700``, a star's ``2M17335483``, a commit ``9850d08``)
NUMBER_RE = re.compile(r"(?<![A-Za-z_\d])(?:\d+\.\d+|\d+ ?%|\d{3,})(?!\d)(?![A-Za-z_]+\d)")
#: a pointer into a paper (``Sec. 9.4``, ``Table 6.1``, ``Eqs. 7.1–7.3``, ``Fig. 9.5``), a catalogue name
#: (``HD 208905``, ``NGC 1333``) or a bibliographic reference (``Olney et al. (2020)``, ``AJ 159, 182``,
#: ``arXiv:2606.11161``), a name or address with digits (``AVX-512``, ``127.0.0.1``, ``host:8786``, ``HTTP 404``):
#: a reference or an identifier, not a figure
REFERENCE_RE = re.compile(r"\b(?:Secs?|Sections?|Tables?|Eqs?|Equations?|Figs?|Figures?|Appendix)\.? ?"
                          r"[A-Z]?\d+(?:\.\d+)*(?: ?[–-] ?[A-Z]?\d+(?:\.\d+)*)?"
                          r"|\b(?:HD|HR|HIP|BD|TYC|NGC) ?[+-]?\d[\d-]*"
                          # a bibliographic reference: author-year, journal volume and page, arXiv id
                          r"|\b[A-Z][\w'’-]+(?: et al\.| and [A-Z][\w'’-]+| & [A-Z][\w'’-]+)?,? \(?(?:19|20)\d\d(?!\d)[a-z]?\)?"
                          r"|\b(?:AJ|ApJ|ApJS|PASP|MNRAS|A&A|AN) \d+, [A-Z]?\d+"
                          r"|arXiv:\d{4}\.\d{4,5}"
                          # a name with digits glued on (AVX-512, part-000000.parquet, apStar-r6-2M1430...), an
                          # address (127.0.0.1, host:8786) or an HTTP status
                          r"|\b[A-Za-z]\w*[-_]\d[\w.+-]*"
                          r"|\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[A-Za-z][\w.-]*:\d{2,5}\b|\bHTTP \d{3}\b")
WHOLE_FILE = "Generated by `python -m"   # a page a committed command writes whole (docs/performance.md)


def pasted_lines(text: str) -> list:
    """``(line number, line)`` of each line of ``text`` that holds a figure (:data:`NUMBER_RE`) outside
    the generated blocks and inline values: the numbers still pasted by hand.  None for a page a
    command writes whole."""
    if WHOLE_FILE in text[:400]:
        return []
    rest = BLOCK_RE.sub(lambda m: "\n" * m.group(0).count("\n"), text)   # keeps the line numbers
    return [(i, line) for i, line in enumerate(rest.splitlines(), 1) if NUMBER_RE.search(REFERENCE_RE.sub("", INLINE_RE.sub("", line)))]


def pasted_numbers(text: str) -> int:
    """How many lines of ``text`` hold a figure pasted by hand (:func:`pasted_lines`: paper quotes,
    architecture sizes and commands among them; the count is a ratchet, tests/test_docs_generated.py,
    not a proof).  0 for a page a command writes whole."""
    return len(pasted_lines(text))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a block differs")
    p.add_argument("--pasted", action="store_true", help="count, per page, the lines with figures outside "
                   "generated blocks and inline values")
    p.add_argument("--lines", action="store_true", help="with --pasted: print those lines")
    p.add_argument("pages", nargs="*", help="only these pages (default: docs/*.md and README.md)")
    a = p.parse_args(argv)
    pages = [os.path.abspath(x) for x in a.pages] or docs_files()
    if a.pasted:
        for path in pages:
            with open(path, encoding="utf-8") as fh:
                lines = pasted_lines(fh.read())
            print(f"{len(lines):5d}  {os.path.relpath(path, REPO)}")
            for i, line in lines if a.lines else ():
                print(f"       {i:4d}: {line}")
        return 0
    if a.check:
        bad = check(pages)
        for b in bad:
            print(f"{b}: a generated block differs from its rendering (python -m evaluation.render)")
        return 1 if bad else 0
    for path in pages:
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
