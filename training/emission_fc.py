"""Train, evaluate and export the thesis's feedforward H-alpha classifier (Podsztavek 2017, Sec. 9.1.2).

    python -m training.emission_fc --docs          # the committed run: simulate, split, SMOTE, train, export
    python -m training.emission_fc --no-smote --no-export --docs --out runs/emission_fc_imbalanced
                                                   # thesis Fig. 9.2: the same network without SMOTE
    python -m training.emission_fc --quick         # smoke run of about a minute
    python -m training.emission_fc --evaluate      # score the exported model again (ONNX)
    python -m training.emission_fc --help          # every recipe field, with its default

Everything but the network is shared with ``training.emission_cnn``
(:mod:`training.bestars`); the numbers are in ``zoo/families/bestars/recipes.py``.
"""
from __future__ import annotations

from training.bestars import EmissionTask  # (sets the TF environment first)
from training.skeleton import main


class EmissionFC(EmissionTask):
    name = "emission_fc"


if __name__ == "__main__":
    main(EmissionFC)
