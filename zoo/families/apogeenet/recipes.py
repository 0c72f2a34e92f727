"""Training recipes of the APOGEE regressors, once: APOGEE Net (Olney et al. 2020,
Sec. 3.3-3.4) and StarNet (Fabbro et al. 2018, astroNN ``StarNet2017`` defaults).

``python -m training.apogeenet`` / ``training.starnet`` generate their flags
from these objects, and the model cards record them.

The simulation fields (:data:`SIMULATION_FIELDS`: S/N range, the share of
the data-driven dwarf emulator, and the realism effects of
:mod:`zoo.families.apogeenet.realism`) default to the simulation the exported
models were trained on; a card records one of them only where a run changed
it (:meth:`ApogeeRecipe.to_dict`), so the recipes of the exported cards stay
what they were before these fields existed.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from zoo.recipe import Recipe, rfield

__all__ = ["ApogeeRecipe", "APOGEENET", "STARNET", "SIMULATION_FIELDS", "realism_of", "simulation_kwargs"]


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
    # ---- the simulation (zoo.families.apogeenet.simulate / .realism); defaults = the exported models' data
    snr_min: float = rfield(30.0, "simulation: lowest per-pixel S/N (the paper's data reach S/N < 10, Sec. 3.5)")
    snr_sigma: float = rfield(0.6, "simulation: log-width of the lognormal S/N around its median 100")
    dwarf_network_fraction: float = rfield(0.5, "simulation: share of warm dwarfs made with the APOGEE-dwarf "
                                                "(real-data) emulator instead of Kurucz; 0 = Kurucz only")
    label_noise: tuple = rfield((0.0, 0.0, 0.0), "simulation: Gaussian noise on the training labels (Teff K, "
                                                 "log g, [Fe/H]); the paper's labels: 100, 0.1, 0.03 (Sec. 2.2)")
    metal_poor_fraction: float = rfield(0.0, "simulation: share of the large group with [Fe/H] uniform in "
                                             "[feh_min, -0.5]")
    feh_min: float = rfield(-0.95, "simulation: lowest [Fe/H] (the Kurucz emulator's floor is -0.99)")
    spot_fraction: float = rfield(0.0, "simulation: share of YSOs and M dwarfs with starspots "
                                       "(two-temperature surface)")
    spot_filling: tuple = rfield((0.1, 0.5), "simulation: spot filling factor, uniform range")
    spot_contrast: tuple = rfield((0.75, 0.9), "simulation: T_spot / Teff, uniform range")
    veiling_fraction: float = rfield(0.0, "simulation: share of YSOs with veiling (continuum excess r)")
    veiling_max: float = rfield(1.0, "simulation: veiling r uniform in [0, veiling_max]")
    spline_throughput: float = rfield(0.0, "simulation: rms (in log flux) of a smooth random cubic-spline "
                                           "throughput per chip, beyond the normalizer's quadratic")
    telluric_residual: float = rfield(0.0, "simulation: std of the telluric column mismatch delta (flux * T^delta)")
    sky_residual: float = rfield(0.0, "simulation: std of the OH sky-subtraction residual at S/N 100, "
                                      "in units of the chip's median flux per 99th-percentile sky line")

    def to_dict(self) -> dict:
        """``Recipe.to_dict`` without the simulation fields that are at their defaults."""
        d = super().to_dict()
        for f in dataclasses.fields(self):
            if f.name in SIMULATION_FIELDS and getattr(self, f.name) == f.default:
                d.pop(f.name)
        return d


#: Recipe fields that set the simulation (recorded in a card only where not at the default).
SIMULATION_FIELDS = ("snr_min", "snr_sigma", "dwarf_network_fraction", "label_noise", "metal_poor_fraction",
                     "feh_min", "spot_fraction", "spot_filling", "spot_contrast", "veiling_fraction", "veiling_max",
                     "spline_throughput", "telluric_residual", "sky_residual")


def realism_of(recipe):
    """The :class:`zoo.families.apogeenet.realism.Realism` of ``recipe``."""
    from .realism import Realism
    return Realism(**{k: tuple(getattr(recipe, k)) if isinstance(getattr(recipe, k), (tuple, list))
                      else getattr(recipe, k) for k in Realism.names()})


def simulation_kwargs(recipe) -> dict:
    """Keyword arguments of :func:`zoo.families.apogeenet.simulate.simulate_apogee` from ``recipe``."""
    from .simulate import SNR_RANGE
    return {"snr_range": (float(recipe.snr_min), SNR_RANGE[1]), "snr_sigma": float(recipe.snr_sigma),
            "dwarf_network_fraction": float(recipe.dwarf_network_fraction), "realism": realism_of(recipe)}


#: APOGEE Net: SGD lr 1e-3, batch 128, early stopping patience 5 (Sec. 3.3), stratified
#: fine-tuning (Sec. 3.4).  Momentum 0.9 is the zoo's one deviation (docs/apogeenet.md).
APOGEENET = ApogeeRecipe(epochs=200, learning_rate=1e-3, batch_size=128, optimizer="sgd", momentum=0.9,
                         patience=5, minutes=60.0, stratified=True, ft_patience=5, ft_minutes=20.0)
#: StarNet: Adam 7e-4, batch 64, at most 30 epochs, ReduceLROnPlateau and early stopping
#: (astroNN StarNet2017 defaults, stated there to be the paper's).
STARNET = ApogeeRecipe(epochs=30, learning_rate=7e-4, batch_size=64, optimizer="adam", patience=4,
                       min_delta=1e-4, reduce_lr=(0.5, 2, 5e-5, 8e-5), minutes=45.0, stratified=False,
                       ft_patience=4, ft_minutes=3.0)
