"""The Be-star H-alpha classifier's training recipe (Podsztavek 2017, ch. 7 and 9), once.

Every number of the thesis's recipe lives in :class:`EmissionRecipe`; the
training CLIs (``python -m training.emission_fc`` / ``emission_cnn``) generate
their flags from it and the model cards record it.  Fields marked "ours" are
not in the thesis (the simulator and the stopping rule replace what the
thesis had: 12,937 labelled Ondřejov spectra and 250 fixed epochs).
"""
from __future__ import annotations

from dataclasses import dataclass

from zoo.recipe import Recipe, rfield

from .paper import CLASS_COUNTS as THESIS_CLASS_COUNTS

__all__ = ["EmissionRecipe", "FC_RECIPE", "CNN_RECIPE", "THESIS_CLASS_COUNTS"]



@dataclass(frozen=True)
class EmissionRecipe(Recipe):
    epochs: int = rfield(250, "maximum training epochs (Sec. 9.2.3, Fig. 9.3: 250 epochs)")
    learning_rate: float = rfield(1e-3, "Adam learning rate alpha (Sec. 9.2.3)")
    beta_1: float = rfield(0.9, "Adam decay rate beta_1 (Sec. 9.2.3)")
    beta_2: float = rfield(0.999, "Adam decay rate beta_2 (Sec. 9.2.3)")
    epsilon: float = rfield(1e-8, "Adam fuzz factor epsilon (Sec. 9.2.3)")
    batch_size: int = rfield(256, "mini-batch size (Sec. 9.2.3, Table 9.2)")
    dropout: float = rfield(0.5, "dropout probability of the hidden dense layers (Sec. 9.1.2-9.1.3)")
    test_fraction: float = rfield(0.10, "stratified test share of all spectra (Sec. 9.2.1, Table 9.1)")
    val_fraction: float = rfield(0.20, "stratified validation share of the rest (Sec. 9.2.1, Table 9.1)")
    smote: bool = rfield(True, "SMOTE-balance the training set only (Sec. 9.2.2, imbalanced-learn)")
    smote_k_neighbors: int = rfield(5, "SMOTE neighbours (imbalanced-learn's default, as in the thesis)")
    n_emission: int = rfield(5301, "simulated emission spectra (Table 6.1 count; ours: simulated)")
    n_absorption: int = rfield(6103, "simulated absorption spectra (Table 6.1 count)")
    n_double_peak: int = rfield(1533, "simulated double-peak spectra (Table 6.1 count)")
    blur_stddev_px: float = rfield(7.0, "Gaussian blur sigma on the Ondrejov pixel grid (Sec. 7.1.2)")
    patience: int = rfield(10, "early stopping on validation loss, best weights restored (ours; "
                               "the thesis ran a fixed 250 epochs)")
    max_minutes: float = rfield(20.0, "wall-clock safety cap on training (ours: 2 CPU cores; early stopping is "
                                      "meant to end the run, and the card records which did)")
    trust_components: int = rfield(5, "PCA components of the out-of-domain score (ours)")
    trust_quantile: float = rfield(0.99, "out-of-domain threshold: this quantile of validation scores (ours)")
    seed: int = rfield(0, "seed of the simulator, split, SMOTE, initialization and shuffling")
    simulator: str = rfield("survey", "simulator preset (ours): 'survey' = G/K/M photospheres in the absorption "
                                      "class, half the spectra rendered as LAMOST records them at S/N 8-150 "
                                      "(SimConfig()); 'legacy' = the simulator of the models exported at "
                                      "commit 9850d08 (B/A/F only, Ondrejov rendering at S/N 20-400; "
                                      "SimConfig.legacy())",
                            choices=("survey", "legacy"))

    def sim_config(self):
        """The :class:`~zoo.families.bestars.simulate.SimConfig` of ``simulator``."""
        from .simulate import SimConfig
        return SimConfig.preset(self.simulator)

    def class_counts(self) -> dict:
        return {"emission": self.n_emission, "absorption": self.n_absorption,
                "double-peak": self.n_double_peak}


#: ``emission_fc`` (Sec. 9.1.2).
FC_RECIPE = EmissionRecipe()
#: ``emission_cnn`` (Sec. 9.1.3): the same recipe; a larger safety cap for the heavier network.
CNN_RECIPE = EmissionRecipe(max_minutes=40.0)
