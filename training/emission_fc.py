"""Train, evaluate and export the thesis's feedforward H-alpha classifier (Podsztavek 2017, Sec. 9.1.2).

    python -m training.emission_fc --docs          # the committed run: simulate, split, SMOTE, train, export
    python -m training.emission_fc --no-smote --no-export --docs --out runs/emission_fc_imbalanced
                                                   # thesis Fig. 9.2: the same network without SMOTE
    python -m training.emission_fc --quick         # smoke run of about a minute
    python -m training.emission_fc --evaluate      # score the exported model again (ONNX)
    python -m training.emission_fc --help          # every recipe field, with its default

Everything but the network is shared with ``training.emission_cnn``
(:mod:`training.emission_common`); the numbers are in ``zoo/families/emission/recipes.py``.
"""
from __future__ import annotations

from training.emission_common import EmissionTask  # (sets the TF environment first)
from training.skeleton import main


class EmissionFC(EmissionTask):
    name = "emission_fc"

    def evaluate_exported(self, recipe, ctx):
        return evaluate_exported(self, recipe, ctx)


def evaluate_exported(task, recipe, ctx):
    """Re-simulate the same data (same seed), score the exported model on its test split
    with ``--backend``, and the real files."""
    import numpy as np

    from training.emission_common import THESIS_PER_CLASS, per_class_accuracy, real_results
    from zoo.predictor import Predictor
    data = task.data(recipe, ctx)
    model = Predictor(ctx.export_dir, backend=ctx.args.backend)
    te = data["sets"]["test"]
    pred = model._forward(te["x"])["halpha_class"].argmax(1)
    cm = np.array([[np.sum((te["y"] == i) & (pred == j)) for j in range(3)] for i in range(3)])
    return {"test": {"n": int(len(te["y"])), "accuracy": float(np.mean(pred == te["y"])),
                     "per_class_accuracy": per_class_accuracy(te["y"], pred), "confusion_matrix": cm.tolist()},
            "thesis_per_class_accuracy": THESIS_PER_CLASS.get(ctx.model, {}),
            "real_files": real_results(model)}


if __name__ == "__main__":
    main(EmissionFC)
