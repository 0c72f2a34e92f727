"""The zoo's shape (docs/contributing.md): the core names no family, a family imports only the
core, families are discovered, and a new family folder needs no core edit."""
import ast
import io
import os
import re
import subprocess
import sys
import textwrap
import tokenize

import pytest

import zoo
from zoo.registry import families, get_entry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZOO = os.path.join(REPO, "zoo")
FAMILIES = os.path.join(ZOO, "families")


def _py_files(root, skip=()):
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x not in ("__pycache__", "data") and os.path.join(d, x) not in skip]
        for f in files:
            if f.endswith(".py"):
                yield os.path.join(d, f)


CORE = sorted(_py_files(ZOO, skip=(FAMILIES,)))


def _module_name(path):
    rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
    return rel[:-9] if rel.endswith(".__init__") else rel


def _imports(path):
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    pkg = _module_name(path)
    if not path.endswith("__init__.py"):
        pkg = pkg.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            out.append(mod)
            out += [f"{mod}.{a.name}" for a in node.names]
    return out


def test_core_is_found():
    names = {os.path.relpath(p, ZOO) for p in CORE}
    assert {"registry.py", "card.py", "preprocess.py", "predictor.py", "export.py", "__main__.py",
            "errors.py", os.path.join("io", "__init__.py")} <= names
    assert not any(n.startswith("families") for n in names)


@pytest.mark.parametrize("path", CORE, ids=lambda p: os.path.relpath(p, REPO))
def test_core_imports_no_family(path):
    bad = [m for m in _imports(path) if m.startswith("zoo.families.") or m.startswith("training")]
    assert not bad, f"core module {path} imports {bad}"


@pytest.mark.parametrize("path", CORE, ids=lambda p: os.path.relpath(p, REPO))
def test_core_names_no_family(path):
    """No model name or family package name in the core's code or strings."""
    names = set(zoo.list_models()) | {f.rsplit(".", 1)[1] for f in families()}
    src = open(path, encoding="utf-8").read()
    hits = []
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.NAME and tok.string in names:
            hits.append((tok.start[0], tok.string))
        elif tok.type == tokenize.STRING:
            for n in names:
                if re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", tok.string):
                    hits.append((tok.start[0], n))
    assert not hits, f"{path} names families/models: {hits}"


FAMILY_FILES = sorted(_py_files(FAMILIES))


@pytest.mark.parametrize("path", FAMILY_FILES, ids=lambda p: os.path.relpath(p, REPO))
def test_family_imports_only_the_core(path):
    fam = _module_name(path).split(".")[:3]
    assert fam[:2] == ["zoo", "families"]
    for m in _imports(path):
        if m.startswith("zoo.families."):
            assert m.split(".")[:3] == fam, f"{path} imports another family: {m}"
        assert not m.startswith("training"), f"{path} imports training code: {m}"


def test_families_are_discovered_and_register():
    found = families()
    assert "zoo.families.autoclassmk" in found and "zoo.families.apogeenet" in found
    for name in zoo.list_models():
        assert get_entry(name).family in found


def test_no_cycle_between_preprocess_and_any_family():
    """zoo.preprocess imports no family module (the old continuum <-> preprocess circle)."""
    assert not [m for m in _imports(os.path.join(ZOO, "preprocess.py")) if m.startswith("zoo.families.")]


_TOY = '''
"""A toy family for the test: one model, one normalization, one trust method, one demo."""
from dataclasses import dataclass
import numpy as np
from zoo.preprocess import register_normalization
from zoo.recipe import Recipe, rfield
from zoo.registry import register_demo, register_model, register_trust


@dataclass(frozen=True)
class ToyRecipe(Recipe):
    epochs: int = rfield(3, "epochs")


@register_normalization("toy_unit_max")
def _unit_max(flux, error, mask):
    return flux / np.max(np.abs(flux), axis=1, keepdims=True), error, mask


register_trust("toy_mean", lambda predictor, prep, raw: np.abs(prep.flux.mean(axis=1)))
register_demo("toy_model", lambda model: print("toy demo"))


@register_model("toy_model", recipe=ToyRecipe(), width=4)
def toy_model(width=2, n_pixels=16, seed=None):
    """A toy dense classifier."""
    import keras
    x = keras.Input((n_pixels,), name="flux")
    y = keras.layers.Dense(width, activation="softmax", name="kind")(x)
    return keras.Model(x, {"kind": y})
'''

_PRESET = '''{"name": "toy_model", "title": "Toy", "paper": {}, "architecture": "Dense",
 "input": {"wavelength_start": 5000.0, "step": 1.0, "n_pixels": 16, "flux_normalization": "toy_unit_max",
           "median_flux_range": [0.0, null]},
 "outputs": [{"name": "kind", "kind": "class", "classes": ["a", "b", "c", "d"]}],
 "trust": {"method": "toy_mean", "threshold": 0.9}}'''


def test_a_new_family_folder_needs_no_core_edit(tmp_path):
    """Drop a family folder beside the others (here: on zoo.families' search path) and it works:
    registered, built, its normalization used by the contract, its card and recipe generated."""
    fam = tmp_path / "toyfam"
    (fam / "presets").mkdir(parents=True)
    (fam / "__init__.py").write_text(_TOY)
    (fam / "presets" / "toy_model.json").write_text(_PRESET)
    script = textwrap.dedent(f"""
        import numpy as np, zoo.families
        zoo.families.__path__.append({str(tmp_path)!r})
        import zoo
        from zoo.registry import get_entry, demos
        from zoo.preprocess import to_contract
        assert "toy_model" in zoo.list_models()
        card = zoo.get_card("toy_model")
        assert card.recipe["epochs"] == 3 and card.recipe["architecture_args"] == {{"width": 4}}
        assert zoo.create_model("toy_model").output["kind"].shape[-1] == 4
        prep = to_contract(np.arange(1, 17, dtype=float), card.input)
        assert abs(prep.flux.max() - 1.0) < 1e-6
        assert "toy_model" in demos()
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def _core_import_graph():
    """``{module: {core modules it imports}}`` for the core (``zoo`` without ``zoo.families``),
    imports inside functions included."""
    import ast
    root = os.path.join(REPO, "zoo")
    mods = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), REPO)[:-3].replace(os.sep, ".")
                mods[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(d, f)
    core = {m for m in mods if not m.startswith("zoo.families")}
    graph = {m: set() for m in core}
    for m in core:
        pkg = m if mods[m].endswith("__init__.py") else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(open(mods[m], encoding="utf-8").read())):
            if isinstance(node, ast.ImportFrom):
                base = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)] if node.level else []
                head = ".".join(base + ([node.module] if node.module else []))
                targets = [head] + [f"{head}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[m] |= {t for t in targets if t in core and t != m and t != "zoo"}
    return graph


def test_the_core_has_no_import_circle():
    """The core imports one way (artifacts and card at the bottom, the CLI at the top): no module
    reaches itself through its imports, not even through imports inside functions."""
    graph = _core_import_graph()
    assert {"zoo.card", "zoo.registry", "zoo.export", "zoo.derive", "zoo.onnx_graph"} <= set(graph)

    def reach(start):
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo += graph[m]
        return seen
    circles = sorted(m for m in graph if m in reach(m))
    assert not circles, {m: sorted(n for n in graph[m] if m in reach(n) or n == m) for m in circles}
    assert not graph["zoo.artifacts"] and not (graph["zoo.card"] - {"zoo.errors"})


def test_no_caller_outside_the_predictor_uses_its_private_methods():
    """The predictor's public methods (prepare, forward, predict, predict_prepared, artifact,
    artifact_arrays) serve every caller: no module but zoo/predictor.py reaches into ``_forward``,
    ``_decode``, ``_run`` or ``_artifact`` (a family reads its files through the hash-checked
    ``artifact`` / ``artifact_arrays``)."""
    import ast
    private = {"_forward", "_decode", "_run", "_load_keras", "_load_onnx", "_load_savedmodel", "_artifact",
               "_predict_from", "_as_spectra", "_tf_device_name"}
    hits = []
    for top in ("zoo", "training", "benchmarks", "scripts", "tests"):
        for d, _, files in os.walk(os.path.join(REPO, top)):
            for f in files:
                path = os.path.join(d, f)
                if not f.endswith(".py") or path.endswith(os.path.join("zoo", "predictor.py")) \
                        or f == "test_layout.py":
                    continue
                for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                    if isinstance(node, ast.Attribute) and node.attr in private:
                        hits.append(f"{os.path.relpath(path, REPO)}:{node.lineno} .{node.attr}")
    assert not hits, hits


def _family_stems():
    return sorted(d for d in os.listdir(FAMILIES)
                  if os.path.isfile(os.path.join(FAMILIES, d, "__init__.py")))


@pytest.mark.parametrize("stem", _family_stems())
def test_one_stem_per_paper(stem):
    """A family's places share its stem (docs/contributing.md): ``zoo/families/<stem>/``,
    ``training/<stem>.py`` or the package ``training/<stem>/``, ``docs/<stem>.md``,
    ``tests/test_<stem>*.py``; every registered model's training command runs a module of the family
    (``training.<stem>`` or a one-line entry module importing it)."""
    import importlib.util
    training = os.path.join(REPO, "training")
    assert (os.path.isfile(os.path.join(training, f"{stem}.py"))
            or os.path.isfile(os.path.join(training, stem, "__init__.py"))), f"no training/{stem}.py or training/{stem}/"
    assert os.path.isfile(os.path.join(REPO, "docs", f"{stem}.md")), f"no docs/{stem}.md"
    assert any(f.startswith(f"test_{stem}") and f.endswith(".py") for f in os.listdir(os.path.join(REPO, "tests"))), \
        f"no tests/test_{stem}*.py"
    for name in zoo.list_models():
        e = get_entry(name)
        if e.family != f"zoo.families.{stem}":
            continue
        module = (e.command or f"python -m training.{stem}").split()[2]
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"{name}: {module} not found"
        src = open(spec.origin, encoding="utf-8").read()
        assert module == f"training.{stem}" or f"training.{stem}" in src, \
            f"{name}: {module} is neither training.{stem} nor an entry module of it"


def _numeric_literals(node) -> int:
    return sum(1 for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, (int, float))
               and not isinstance(n.value, bool))


def test_paper_quotes_live_in_their_family():
    """A paper's numbers are quoted once, in ``zoo/families/<stem>/paper.py`` (docs/contributing.md): no
    module-level ``PAPER_*`` / ``THESIS_*`` / ``TABLE*`` table with numbers in it anywhere else (the
    rendered docs, the training reports and the tests import the family's)."""
    hits = []
    for top in ("zoo", "training", "evaluation", "scripts", "benchmarks", "tests"):
        for d, _, files in os.walk(os.path.join(REPO, top)):
            for f in files:
                path = os.path.join(d, f)
                if not f.endswith(".py") or (f == "paper.py" and os.path.dirname(os.path.dirname(path)) == FAMILIES):
                    continue
                for node in ast.parse(open(path, encoding="utf-8").read()).body:
                    if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Dict, ast.Tuple, ast.List)):
                        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                        if any(re.match(r"(PAPER|THESIS)_|TABLE\d", n) for n in names) and _numeric_literals(node.value):
                            hits.append(f"{os.path.relpath(path, REPO)}:{node.lineno} {names}")
    assert not hits, hits


def test_exported_stays_within_its_budget():
    """The tracked files of exported/ (what every clone carries) stay under the budget docs/contributing.md states."""
    import shutil

    from zoo.artifacts import EXPORTED_BUDGET_MB
    root = REPO
    if shutil.which("git") is None or not os.path.isdir(os.path.join(root, ".git")):
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files", "-z", "exported"], cwd=root, capture_output=True, check=True,
                           text=True).stdout.split("\0")
    total = sum(os.path.getsize(os.path.join(root, f)) for f in files if f and os.path.exists(os.path.join(root, f)))
    assert total > 0, "exported/ holds no tracked file"
    assert total < EXPORTED_BUDGET_MB * 1e6, f"exported/ holds {total / 1e6:.1f} MB, over {EXPORTED_BUDGET_MB} MB"
