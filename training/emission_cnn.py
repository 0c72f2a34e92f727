"""Train, evaluate and export the thesis's convolutional H-alpha classifier (Podsztavek 2017,
Sec. 9.1.3, Fig. 9.1) -- the network the thesis chose for LAMOST.

    python -m training.emission_cnn --docs         # the committed run: simulate, split, SMOTE, train, export
    python -m training.emission_cnn --quick        # smoke run of about a minute
    python -m training.emission_cnn --evaluate     # score the exported model again (ONNX)
    python -m training.emission_cnn --help         # every recipe field, with its default

Everything but the network is shared with ``training.emission_fc``
(:mod:`training.bestars`); the numbers are in ``zoo/families/bestars/recipes.py``.
"""
from __future__ import annotations

from training.bestars import EmissionTask  # (sets the TF environment first)
from training.skeleton import main


class EmissionCNN(EmissionTask):
    name = "emission_cnn"


if __name__ == "__main__":
    main(EmissionCNN)
