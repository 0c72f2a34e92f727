"""`pip install -e .` without extras (numpy, astropy, onnxruntime, tqdm: no TensorFlow) into a
fresh virtual environment runs README's Python snippet as written (default backend) and predicts
with every exported model (``python -m zoo demo`` and ``predict`` at their defaults).

Takes about a minute (it installs from the package index with constraints.txt);
set ZOO_SKIP_INSTALL_TEST=1 to skip it on a machine without one.
"""
import os
import subprocess
import venv

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def readme_snippet() -> str:
    """The Python block of README's "Use a pretrained model", as written."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    start = text.index("```python\n", text.index("## Use a pretrained model")) + len("```python\n")
    return text[start:text.index("```", start)]


_CHECK = r"""
import os, sys
exec(compile(open(sys.argv[1]).read(), "README.md", "exec"))   # README's snippet, as written, defaults
import zoo
from zoo.predictor import exported_dir
from zoo.__main__ import main
names = [n for n in zoo.list_models() if os.path.exists(os.path.join(exported_dir(n), "card.json"))]
assert len(names) >= 4, names
for n in names:
    assert main(["verify", n]) == 0, n                # checksums + test_data_set_0 through ONNX Runtime
assert main(["demo"]) == 0                           # bundled real files through every model with a demo
assert main(["predict", "autoclassmk", zoo.example_files("mk_atlas/libr18/*.rbn")[0], "--no-progress"]) == 0
heavy = sorted(k for k in sys.modules if k.split(".")[0] in ("tensorflow", "keras", "tf2onnx", "sklearn", "scipy"))
assert not heavy, heavy
print("BASE-INSTALL-OK", len(names))
"""


@pytest.mark.skipif(os.environ.get("ZOO_SKIP_INSTALL_TEST") == "1", reason="ZOO_SKIP_INSTALL_TEST=1")
def test_base_install_predicts_with_every_exported_model(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "-q", "-e", REPO, "-c", os.path.join(REPO, "constraints.txt")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([py, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True)
    installed = {line.split("==")[0].lower() for line in r.stdout.splitlines()}
    assert not installed & {"tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "scikit-learn", "scipy"}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    snippet = tmp_path / "readme_snippet.py"
    snippet.write_text(readme_snippet())
    r = subprocess.run([py, "-c", _CHECK, str(snippet)], capture_output=True, text=True, timeout=900,
                       cwd=str(tmp_path), env=env)
    assert r.returncode == 0 and "BASE-INSTALL-OK" in r.stdout, (r.stdout[-2000:], r.stderr[-3000:])
