"""AutoClassMK augmentation: the five perturbations of Short (2026), Sec. II.

Each variant of a rectified standard spectrum f(lambda) on a uniform grid gets,
in the paper's order,

1. a wavelength-registration error, zero point ``d0 ~ N(0, 0.030 A)`` and first
   order ``d1 ~ N(0, 2.0e-5)`` about the grid centre ``lambda_c``;
2. a Doppler error ``v ~ N(0, 1 km/s)``;
   (1)+(2) together: ``f'(lambda) = f(lambda (1 - v/c) - d0 - d1 (lambda - lambda_c))``,
   by linear interpolation;
3. a continuum-rectification error: multiplication by ``1 + c0 + c1 x + c2 x^2``
   with ``x`` in [-1, 1] across the grid and ``c_k ~ N(0, (2e-3, 5e-3, 3e-3)_k)``;
4. Gaussian broadening with kernel width ``sigma_k = |N(0, 0.3 px)|``, applied
   per spectrum as the exact Gaussian transfer function ``exp(-2 pi^2 sigma_k^2 f^2)``
   in Fourier space (edge-padded), so that a batch with 36,600 different
   kernels is one vectorized FFT instead of 36,600 calls to a convolution;
5. Poisson noise at a gain ``g = 5000``: ``f'' = Poisson(g f') / g``, i.e.
   sigma = sqrt(f'/g), S/N = 70.7 on the continuum.

Missing pixels (flux 0 in the atlas) are filled before perturbing and set back
to the contract's fill value afterwards, exactly as :mod:`zoo.preprocess`
presents them to the network at prediction time.  Everything is vectorized and
deterministic for a seed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from zoo.preprocess import fill_missing

__all__ = ["AugmentConfig", "augment", "augment_dataset"]

C_KMS = 299792.458


@dataclass(frozen=True)
class AugmentConfig:
    """Perturbation widths; set one to 0 to switch that perturbation off.

    The paper's values (Sec. II) live once, in the recipe
    (:class:`zoo.families.autoclassmk.recipes.AutoClassMKRecipe`): :meth:`paper` builds them.
    """

    zero_point_sigma: float          # Angstrom
    dispersion_sigma: float          # dimensionless first-order term
    doppler_sigma_kms: float         # km/s
    continuum_sigmas: tuple          # orders 0, 1, 2
    broadening_sigma_px: float       # sigma of the kernel-width distribution
    gain: float                      # counts per unit rectified flux; 0 = no noise

    @classmethod
    def paper(cls) -> "AugmentConfig":
        """Short (2026) Sec. II, from the registered recipe."""
        from .recipes import PAPER
        return cls(**PAPER.augmentation())

    def to_dict(self):
        return asdict(self)


def augment(flux: np.ndarray, wavelength: np.ndarray, rng: np.random.Generator,
            config: AugmentConfig | None = None, mask: np.ndarray | None = None,
            fill_value: float = 1.0) -> np.ndarray:
    """One random variant of each row of ``flux`` (n, npix) on a uniform ``wavelength`` grid
    (``config`` default: the paper's, :meth:`AugmentConfig.paper`)."""
    config = config or AugmentConfig.paper()
    flux = np.atleast_2d(np.asarray(flux, dtype=float))
    n, npix = flux.shape
    if mask is not None:
        mask = np.broadcast_to(np.atleast_2d(mask), flux.shape)
        flux = fill_missing(flux, mask, fill_value)
    wave = np.asarray(wavelength, dtype=float)
    step = wave[1] - wave[0]
    centre = 0.5 * (wave[0] + wave[-1])

    # (1) + (2): wavelength registration and Doppler errors, as a resampling.
    d0 = rng.normal(0.0, config.zero_point_sigma, (n, 1))
    d1 = rng.normal(0.0, config.dispersion_sigma, (n, 1))
    v = rng.normal(0.0, config.doppler_sigma_kms, (n, 1))
    source = wave * (1.0 - v / C_KMS) - d0 - d1 * (wave - centre)
    pos = np.clip((source - wave[0]) / step, 0.0, npix - 1.0)
    i0 = np.minimum(np.floor(pos).astype(np.int64), npix - 2)
    w = pos - i0
    out = (1.0 - w) * np.take_along_axis(flux, i0, 1) + w * np.take_along_axis(flux, i0 + 1, 1)
    if mask is not None:
        mask = np.take_along_axis(mask, i0, 1) | (np.take_along_axis(mask, i0 + 1, 1) & (w > 0))

    # (3) continuum-rectification error.
    x = np.linspace(-1.0, 1.0, npix)
    c = rng.normal(0.0, 1.0, (n, 3)) * np.asarray(config.continuum_sigmas, dtype=float)
    out *= 1.0 + c[:, :1] + c[:, 1:2] * x + c[:, 2:3] * x ** 2

    # (4) Gaussian broadening, sigma_k = |N(0, 0.3)| pixels, exact in Fourier space.
    sig = np.abs(rng.normal(0.0, config.broadening_sigma_px, (n, 1)))
    if config.broadening_sigma_px > 0:
        pad = 32
        padded = np.pad(out, ((0, 0), (pad, pad)), mode="edge")
        freq = np.fft.rfftfreq(padded.shape[1])
        transfer = np.exp(-2.0 * np.pi ** 2 * sig ** 2 * freq ** 2)
        out = np.fft.irfft(np.fft.rfft(padded, axis=1) * transfer, n=padded.shape[1], axis=1)
        out = out[:, pad:pad + npix]

    # (5) Poisson noise at the gain.
    if config.gain > 0:
        out = rng.poisson(np.clip(out, 0.0, None) * config.gain) / config.gain

    # present the result exactly as zoo.preprocess.to_contract would: flux 0 marks
    # a missing pixel there, so a Poisson zero is filled the same way here
    missing = out == 0.0 if mask is None else mask | (out == 0.0)
    if missing.any():
        out = fill_missing(out, missing, fill_value)
    return out


def augment_dataset(flux: np.ndarray, labels: dict[str, np.ndarray], wavelength: np.ndarray,
                    n_variants: int, seed: int, config: AugmentConfig | None = None,
                    mask: np.ndarray | None = None, fill_value: float = 1.0,
                    shuffle: bool = True, chunk: int = 4096):
    """``n_variants`` perturbed copies of every spectrum, stored shuffled.

    Returns ``(x, y, source)``: float32 spectra (n * n_variants, npix), the
    labels repeated alike (dict of arrays), and the index of each variant's
    source spectrum.  Deterministic for ``seed``; built in chunks to bound memory.
    """
    flux = np.atleast_2d(flux)
    config = config or AugmentConfig.paper()
    rng = np.random.default_rng(seed)
    source = np.repeat(np.arange(flux.shape[0]), n_variants)
    if shuffle:
        source = source[rng.permutation(source.size)]
    x = np.empty((source.size, flux.shape[1]), np.float32)
    for start in range(0, source.size, chunk):
        idx = source[start:start + chunk]
        x[start:start + chunk] = augment(flux[idx], wavelength, rng, config,
                                         None if mask is None else mask[idx], fill_value)
    y = {k: np.asarray(v)[source] for k, v in labels.items()}
    return x, y, source
