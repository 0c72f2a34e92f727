"""Training recipes of the APOGEE regressors, once: APOGEE Net (Olney et al. 2020,
Sec. 3.3-3.4) and StarNet (Fabbro et al. 2018, astroNN ``StarNet2017`` defaults).

``python -m training.apogeenet`` / ``training.starnet`` generate their flags
from these objects, and the model cards record them.
"""
from __future__ import annotations

from dataclasses import dataclass

from zoo.recipe import Recipe, rfield

__all__ = ["ApogeeRecipe", "APOGEENET", "STARNET"]


@dataclass(frozen=True)
class ApogeeRecipe(Recipe):
    n_spectra: int = rfield(5000, "simulated spectra in all")
    split_large: tuple = rfield((0.8, 0.1, 0.1), "train/dev/test fractions of the large group (Sec. 3.3)")
    split_small: tuple = rfield((0.6, 0.2, 0.2), "train/dev/test fractions of the small groups (Sec. 3.3)")
    optimizer: str = rfield("sgd", "'sgd' or 'adam'")
    momentum: float = rfield(0.0, "SGD momentum")
    beta_1: float = rfield(0.9, "Adam beta_1")
    beta_2: float = rfield(0.999, "Adam beta_2")
    epsilon: float = rfield(1e-8, "Adam epsilon")
    patience: int = rfield(5, "early stopping on the dev loss: epochs without improvement")
    min_delta: float = rfield(0.0, "early stopping: smallest dev-loss decrease that counts")
    reduce_lr: tuple = rfield((), "ReduceLROnPlateau (factor, patience, min_delta, min_lr) on the dev loss; () none")
    minutes: float = rfield(60.0, "wall-clock safety budget of the main phase (checked after each epoch)")
    stratified: bool = rfield(False, "stratified fine-tuning after the main phase (Sec. 3.4)")
    ft_fraction: float = rfield(0.05, "fine-tuning: fraction of the large group drawn per round (Sec. 3.4)")
    ft_patience: int = rfield(5, "fine-tuning: early-stopping patience within a round")
    ft_round_patience: int = rfield(1, "fine-tuning: rounds without small-group improvement that end it")
    ft_max_rounds: int = rfield(20, "fine-tuning: at most this many rounds")
    ft_minutes: float = rfield(20.0, "fine-tuning: wall-clock safety budget")
    n_uncertainty: int = rfield(150, "fresh simulated spectra for the uncertainty-vs-S/N measurement")
    realizations: int = rfield(100, "noise realizations per spectrum for uncertainties (Sec. 3.5)")


#: APOGEE Net: SGD lr 1e-3, batch 128, early stopping patience 5 (Sec. 3.3), stratified
#: fine-tuning (Sec. 3.4).  Momentum 0.9 is the zoo's one deviation (docs/apogeenet.md).
APOGEENET = ApogeeRecipe(epochs=200, learning_rate=1e-3, batch_size=128, optimizer="sgd", momentum=0.9,
                         patience=5, minutes=60.0, stratified=True, ft_patience=5, ft_minutes=20.0)
#: StarNet: Adam 7e-4, batch 64, at most 30 epochs, ReduceLROnPlateau and early stopping
#: (astroNN StarNet2017 defaults, stated there to be the paper's).
STARNET = ApogeeRecipe(epochs=30, learning_rate=7e-4, batch_size=64, optimizer="adam", patience=4,
                       min_delta=1e-4, reduce_lr=(0.5, 2, 5e-5, 8e-5), minutes=45.0, stratified=False,
                       ft_patience=4, ft_minutes=3.0)
