"""The AutoClassMK training recipe (Short 2026, Sec. II-III, Table 2), once.

Every number of the paper's recipe lives in :class:`AutoClassMKRecipe`; the
training CLI (``python -m training.autoclassmk``) generates its flags from it
and the model card records it.  Registered variants change fields here only.
"""
from __future__ import annotations

from dataclasses import dataclass

from zoo.recipe import Recipe, rfield

__all__ = ["AutoClassMKRecipe", "PAPER", "BROAD"]


@dataclass(frozen=True)
class AutoClassMKRecipe(Recipe):
    epochs: int = rfield(250, "training epochs (Table 2)")
    learning_rate: float = rfield(0.01, "initial SGD learning rate (Table 2)")
    batch_size: int = rfield(200, "mini-batch size (Table 2)")
    lr_halving_every: int = rfield(50, "halve the learning rate every N epochs (Table 2)")
    momentum: float = rfield(0.0, "SGD momentum (the paper: plain SGD)")
    head_weights: tuple = rfield((2.0, 1.0), "weights of CE_SC and CE_LC in CE_TOTAL (Sec. III), normalized")
    variants: int = rfield(300, "augmentations per libr18 spectrum for training (Sec. II)")
    val_variants: int = rfield(30, "held-out libr18 augmentations per spectrum (validation; ours)")
    test_variants: int = rfield(30, "augmentations per libr18_27 spectrum (test protocol, Sec. IV)")
    zero_point_sigma: float = rfield(0.030, "wavelength zero-point error sigma [A] (Sec. II)")
    dispersion_sigma: float = rfield(2.0e-5, "first-order wavelength error sigma (Sec. II)")
    doppler_sigma_kms: float = rfield(1.0, "Doppler error sigma [km/s] (Sec. II)")
    continuum_sigmas: tuple = rfield((2e-3, 5e-3, 3e-3), "continuum error sigmas of orders 0, 1, 2 (Sec. II)")
    broadening_sigma_px: float = rfield(0.3, "sigma [px] of the half-normal broadening kernel width (Sec. II)")
    gain: float = rfield(5000.0, "Poisson gain, counts per unit rectified flux (Sec. II)")
    patience: int = rfield(20, "patience of the early-stopping probe (reports when it would stop; ours)")
    min_delta: float = rfield(0.0, "smallest val-loss decrease counted by the probe")
    stop_early: bool = rfield(False, "let the probe really stop training (the paper trains all epochs)")

    def augmentation(self) -> dict:
        """The perturbation widths, as :class:`zoo.families.autoclassmk.augment.AugmentConfig` takes them."""
        return {"zero_point_sigma": self.zero_point_sigma, "dispersion_sigma": self.dispersion_sigma,
                "doppler_sigma_kms": self.doppler_sigma_kms, "continuum_sigmas": tuple(self.continuum_sigmas),
                "broadening_sigma_px": self.broadening_sigma_px, "gain": self.gain}


#: The paper's recipe (registered as ``autoclassmk``).
PAPER = AutoClassMKRecipe()
#: ``autoclassmk_broad``: broadening up to libr18_27's resolution; trained 150 epochs.
BROAD = AutoClassMKRecipe(epochs=150, broadening_sigma_px=1.5)
