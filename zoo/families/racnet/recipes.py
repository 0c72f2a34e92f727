"""The RAC-Net family's training recipes (Zou et al. 2020, Secs. 2.2 and 2.7), once.

One :class:`RacNetRecipe` per task (``ds1``, ``ds2``, ``fgk``: the paper's Data sets 1-3); the training CLI
(``python -m training.racnet``) generates its flags from it and the exported
card records it.  The paper states: one-hot labels, Eq. 1 flux standardization,
balancing by down-sampling the majority and up-sampling the others with added
Gaussian noise (Sec. 2.2), 8:2 random train/test split, 10,000 spectra per class
(Table 1), dropout 0.5 after a fully connected layer of 128 (Sec. 2.7).  It
does not state the optimizer, batch size, epochs or the noise level: the
values below marked "ours" are the zoo's choices (Adam with Keras defaults,
early stopping on a validation split with the best weights restored).
"""
from __future__ import annotations

from dataclasses import dataclass

from zoo.recipe import Recipe, rfield

__all__ = ["RacNetRecipe", "RECIPES"]


@dataclass(frozen=True)
class RacNetRecipe(Recipe):
    task: str = rfield("ds1", "data set of Table 1: ds1 STAR/GALAXY/QSO/UNKNOWN, ds2 STAR/GALAXY/QSO, "
                              "fgk F/G/K (the paper's Data set 3; 'ds3', its name before 2026-12, is read as "
                              "'fgk')", choices=("ds1", "ds2", "fgk"))
    epochs: int = rfield(40, "maximum epochs (ours; the paper does not say); early stopping ends the runs")
    learning_rate: float = rfield(1e-3, "Adam learning rate (Keras default; optimizer unstated in the paper)")
    batch_size: int = rfield(64, "mini-batch size (ours)")
    seed: int = rfield(0, "seed of simulation, split, initialization and shuffling")
    n_per_class: int = rfield(5000, "spectra per class after balancing, train + test (Table 1: 10,000; "
                                    "ours half, for a 2-core CPU budget)")
    raw_fractions: tuple = rfield((0.55, 0.2, 0.1, 0.15),
                                  "class fractions of the simulated survey sample before balancing, in "
                                  "class order (survey-like imbalance; LAMOST: ~90 % STAR, ~1 % QSO, Sec. 2.2)")
    test_fraction: float = rfield(0.2, "test share of the random split (8:2, Sec. 2.1)")
    val_fraction: float = rfield(0.1, "share of the training split held out for early stopping (ours)")
    noise_sigma: float = rfield(0.05, "Gaussian noise added to up-sampled copies, in units of each "
                                      "spectrum's median absolute L2-normalized flux (Sec. 2.2; level ours)")
    patience: int = rfield(4, "early-stopping patience on val_loss, best weights restored (ours)")
    max_minutes: float = rfield(40.0, "safety cap: stop training after this many minutes, best weights restored "
                                      "(0: no limit; ours; the committed runs end by early stopping, "
                                      "card metrics.training_run.stopped_by)")

    def __post_init__(self):
        if self.task == "ds3":          # cards and commands written before the task was named fgk
            object.__setattr__(self, "task", "fgk")


#: recipe per task (registered with every architecture of that task: the ablations of Table 4 train
#: with the same numbers, to the same stopping rule)
RECIPES = {
    "ds1": RacNetRecipe(task="ds1"),
    "ds2": RacNetRecipe(task="ds2", raw_fractions=(0.65, 0.23, 0.12)),
    "fgk": RacNetRecipe(task="fgk", raw_fractions=(0.3, 0.4, 0.3)),
}
