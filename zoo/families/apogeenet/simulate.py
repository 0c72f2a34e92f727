"""Labelled APOGEE-like spectra from The Payne's neural-network emulators.

The emulators (Ting, Conroy, Rix & Cargile 2019, ApJ 879, 69, "The Payne";
MIT licence; bundled in ``zoo/families/apogeenet/data/payne``, see its PROVENANCE.md) predict
each of the 7214 ASPCAP pixels with a one-hidden-layer network (Ting et al.
2019, Sec. 2; the form in the bundled ``NN_*.npz``)::

    x      = (labels - x_min) / (x_max - x_min) - 0.5
    hidden = sigmoid(w_array_0 @ x + b_array_0)          # per pixel, 5 hidden units
    flux   = w_array_1 . hidden + b_array_1

* ``kind="kurucz"`` (``NN_unnormalized_spectra.npz``): trained on Kurucz
  model spectra, labels [Teff, log g, [Fe/H], [alpha/Fe]] over
  Teff 3529-6983 K, log g 0.34-5.22, [Fe/H] -0.99-0.52,
  [alpha/Fe] -0.56-0.91; output ``1e6 * f_nu`` at the surface, continuum
  *not* removed.
* ``kind="apogee_dwarf"`` (``NN_normalized_spectra.npz``): trained on real
  APOGEE dwarf spectra, labels [Teff, log g, [Fe/H], [Mg/Fe], v_macro] over
  Teff 4200-6996 K, log g 4.0-4.98; output continuum-normalised.

:func:`simulate_apogee` draws labels for the three groups of Olney et al.
(2020, AJ 159, 182, Sec. 2): the large sample of giants and FGK dwarfs,
M dwarfs and young stellar objects (pre-main-sequence stars), with the
strong class imbalance of the paper's training set, and turns the emulator
output into *raw-like* apStar spectra (arbitrary scale spanning orders of
magnitude, a smooth random throughput per chip, photon-like noise with a
realistic S/N distribution, random bad pixels, chip gaps; bad pixels have
flux 0 and error 1e10 as in apStar files), so that a model trained on them
sees the same preprocessing (:func:`zoo.families.apogeenet.continuum.normalize_apstar`) as the
real spectra.

Caveat (also in Olney et al. 2020, Sec. 1): model atmospheres describe cool
dwarfs and YSOs less well than giants; the "mdwarf" and "yso" groups here are
Kurucz spectra at those labels -- by default no veiling, spots, accretion or
Brackett emission -- so they stand in for, not reproduce, the paper's
photometrically labelled samples.

What the default simulation lacks (label noise, S/N below 30, throughput
ripples beyond a quadratic, sky and telluric residuals, veiling, starspots,
metal-poor stars) can be switched on with ``realism=``
(:class:`zoo.families.apogeenet.realism.Realism`; each effect's physics and
source are documented there) and ``snr_range``/``snr_sigma``.  With the
defaults the output is identical, number for number, to the simulation
without those switches (``tests/test_apogeenet_sim.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from zoo.families.apogeenet.apstar import (APSTAR_BAD_ERROR, APSTAR_CHIP_SLICES, APSTAR_NPIX,
                         N_ASPCAP_PIX, aspcap_pixel_mask)

from . import realism as _realism
from .realism import Realism

_CHIP_SIZES = [s.stop - s.start for s in APSTAR_CHIP_SLICES]
_CHIP_OFFSETS = list(np.cumsum([0] + _CHIP_SIZES[:-1]))

__all__ = ["PayneEmulator", "SimulatedSet", "simulate_apogee", "observe", "GROUP_NAMES",
           "DEFAULT_GROUP_FRACTIONS", "EMULATOR_FILES"]

#: emulator kind -> (file in zoo/families/apogeenet/data/payne, label names)
EMULATOR_FILES = {
    "kurucz": ("NN_unnormalized_spectra.npz", ("teff", "logg", "feh", "alpha_fe")),
    "apogee_dwarf": ("NN_normalized_spectra.npz", ("teff", "logg", "feh", "mg_fe", "vmacro")),
}
#: The three groups of Olney et al. (2020).
GROUP_NAMES = ("large", "mdwarf", "yso")
#: Default group fractions: a large majority and two small groups (~7.5 % each).
DEFAULT_GROUP_FRACTIONS = (0.85, 0.075, 0.075)
#: Per-pixel S/N: lognormal around this median (APOGEE's requirement is S/N ~100 per pixel) ...
SNR_MEDIAN = 100.0
#: ... clipped to this range by default (the realism switches reach down to 10).
SNR_RANGE = (30.0, 500.0)
#: [Fe/H] ~ N(mean, sigma) for every star (the small groups then draw their own), clipped at feh_min.
FEH_NORMAL = (-0.1, 0.25)
#: Metal-poor stars of the realism switch: [Fe/H] uniform in [feh_min, this].
METAL_POOR_FEH_MAX = -0.5
#: The sky residual's amplitude ``sky_residual`` is its std at this S/N (it scales as this / S/N).
SKY_RESIDUAL_SNR = 100.0


@lru_cache(maxsize=None)
def _load(kind):
    fname, names = EMULATOR_FILES[kind]
    ref = resources.files("zoo") / "families" / "apogeenet" / "data" / "payne" / fname
    with resources.as_file(ref) as p, np.load(p) as d:
        arrs = {k: np.asarray(d[k]) for k in d.files}
    return arrs, names


class PayneEmulator:
    """One of The Payne's emulators (Ting et al. 2019), vectorised over labels.

    Parameters
    ----------
    kind : {"kurucz", "apogee_dwarf"}

    Attributes
    ----------
    label_names : tuple of str
    bounds : (ndarray, ndarray)
        ``(x_min, x_max)``, the label range of the training grid.
    n_pix : int
        7214 ASPCAP pixels.
    """

    def __init__(self, kind: str = "kurucz"):
        if kind not in EMULATOR_FILES:
            raise ValueError(f"kind must be one of {sorted(EMULATOR_FILES)}, not {kind!r}")
        self.kind = kind
        arrs, names = _load(kind)
        self.label_names = names
        self.x_min = arrs["x_min"].astype(np.float64)
        self.x_max = arrs["x_max"].astype(np.float64)
        w0 = arrs["w_array_0"].astype(np.float32)          # (npix, nhid, nlab)
        self.n_pix, self.n_hidden, self.n_labels = w0.shape
        w1 = arrs["w_array_1"].astype(np.float32)          # (npix, nhid)
        b1 = arrs["b_array_1"].astype(np.float32)
        # sigmoid(z) = 0.5 + 0.5 tanh(z / 2): fold the halves into the weights so that
        # flux = b1 + 0.5 sum(w1) + sum(0.5 w1 * tanh(0.5 (w0 x + b0)))  (one pass fewer)
        self._w0h = (0.5 * w0).reshape(-1, self.n_labels).T.copy()   # (nlab, npix*nhid)
        self._b0h = (0.5 * arrs["b_array_0"].astype(np.float32)).reshape(-1)
        self._w1h = np.ascontiguousarray(0.5 * w1)
        self._b1h = b1 + 0.5 * w1.sum(axis=1)

    @property
    def bounds(self):
        return self.x_min, self.x_max

    def in_bounds(self, labels) -> np.ndarray:
        """Boolean (n,): all labels inside ``bounds``."""
        labels = np.atleast_2d(np.asarray(labels, dtype=float))
        return np.all((labels >= self.x_min) & (labels <= self.x_max), axis=1)

    def flux(self, labels, chunk: int = 512) -> np.ndarray:
        """Emulated spectra on the 7214 ASPCAP pixels.

        Parameters
        ----------
        labels : array (n_labels,) or (n, n_labels)
            In the order of :attr:`label_names`.
        chunk : int
            Spectra per matrix product (bounds memory to ~chunk * 144 kB).

        Returns
        -------
        ndarray float32, (7214,) or (n, 7214)
        """
        labels = np.asarray(labels, dtype=float)
        single = labels.ndim == 1
        labels = np.atleast_2d(labels)
        if labels.shape[1] != self.n_labels:
            raise ValueError(f"{self.kind} emulator takes {self.n_labels} labels "
                             f"{self.label_names}, got {labels.shape[1]}")
        x = ((labels - self.x_min) / (self.x_max - self.x_min) - 0.5).astype(np.float32)
        out = np.empty((len(x), self.n_pix), dtype=np.float32)
        for i in range(0, len(x), chunk):
            z = x[i:i + chunk] @ self._w0h
            z += self._b0h
            np.tanh(z, out=z)
            z = z.reshape(len(z), self.n_pix, self.n_hidden)
            out[i:i + chunk] = np.einsum("npk,pk->np", z, self._w1h) + self._b1h
        return out[0] if single else out

    @staticmethod
    def on_apstar_grid(flux7214, fill: float = 0.0):
        """Place ASPCAP-pixel spectra on the 8575-pixel apStar grid.

        Returns
        -------
        flux : ndarray (..., 8575)
            ``fill`` in the chip gaps and at the grid ends.
        gap_mask : ndarray of bool (8575,)
            True outside the three chips.
        """
        flux7214 = np.asarray(flux7214)
        if flux7214.shape[-1] != N_ASPCAP_PIX:
            raise ValueError(f"expected {N_ASPCAP_PIX} ASPCAP pixels, got {flux7214.shape[-1]}")
        out = np.full(flux7214.shape[:-1] + (APSTAR_NPIX,), fill, dtype=flux7214.dtype)
        o = 0
        for s in APSTAR_CHIP_SLICES:
            n = s.stop - s.start
            out[..., s] = flux7214[..., o:o + n]
            o += n
        return out, ~aspcap_pixel_mask()


@dataclass
class SimulatedSet:
    """A simulated APOGEE data set (arrays share the first axis, length n).

    Attributes
    ----------
    flux : float32 (n, 8575)
        Raw-like flux; 0 on bad pixels and chip gaps.
    error : float32 (n, 8575)
        1-sigma errors; 1e10 on bad pixels and chip gaps.
    mask : bool (n, 8575)
        True = bad (random bad pixels and the chip gaps / grid ends).
    labels : float32 (n, 3)
        [Teff (K), log g (dex), [Fe/H] (dex)].
    alpha_fe : float32 (n,)
    group : int (n,)
        Index into ``group_names``.
    group_names : tuple of str
    snr : float32 (n,)
        Median per-pixel S/N of the noiseless flux over the good pixels
        (the quantity APOGEE reports as SNR).
    source : int8 (n,)
        0 = Kurucz emulator, 1 = APOGEE-dwarf emulator.
    noiseless : float32 (n, 8575) or None
        The flux before noise (only with ``return_noiseless=True``).
    labels_true : float32 (n, 3) or None
        The labels the spectra were made at; ``labels`` differ from them only
        with ``Realism.label_noise`` (then ``labels`` are the noisy catalogue
        labels a network is trained on).
    effects : dict
        Per-spectrum parameters of the realism effects that were on
        (e.g. ``"veiling"``: r, ``"spot_filling"``, ``"spot_teff"``,
        ``"telluric_delta"``, ``"sky_amp"``, ``"template_shift"``).
    """

    flux: np.ndarray
    error: np.ndarray
    mask: np.ndarray
    labels: np.ndarray
    alpha_fe: np.ndarray
    group: np.ndarray
    snr: np.ndarray
    source: np.ndarray
    group_names: tuple = GROUP_NAMES
    label_names: tuple = ("teff", "logg", "feh")
    noiseless: np.ndarray | None = field(default=None, repr=False)
    labels_true: np.ndarray | None = field(default=None, repr=False)
    effects: dict = field(default_factory=dict, repr=False)

    def __len__(self):
        return len(self.group)


# ----------------------------------------------------------------------------- labels
def _draw_labels(rng, group, bounds, feh_min=-0.95, feh_replace=None):
    """Labels [Teff, logg, [Fe/H], [alpha/Fe]] for an array of group indices.

    ``feh_replace``: ``(indices, values)`` of [Fe/H] set before the group relations
    (the metal-poor stars of :class:`.realism.Realism`; drawn elsewhere, so that
    ``rng`` is used exactly as without them).
    """
    n = len(group)
    lo, hi = bounds
    teff = np.empty(n)
    logg = np.empty(n)
    feh = np.clip(rng.normal(*FEH_NORMAL, n), feh_min, 0.45)
    if feh_replace is not None:
        feh[feh_replace[0]] = feh_replace[1]

    g0 = np.flatnonzero(group == 0)
    giant = rng.random(g0.size) < 0.65          # 65 % giants, 35 % FGK dwarfs/subgiants
    gi, dw = g0[giant], g0[~giant]
    # red giant branch + clump: logg rises ~1.9 dex per 1000 K; metal-poor giants are
    # hotter at a given logg (shifted by ~300 K per dex)
    t = rng.uniform(3700.0, 5300.0, gi.size)
    lg = 1.5 + 1.9e-3 * (t - 4000.0 + 300.0 * feh[gi]) + rng.normal(0.0, 0.2, gi.size)
    clump = rng.random(gi.size) < 0.2
    t[clump] = rng.uniform(4550.0, 5000.0, clump.sum())
    lg[clump] = rng.uniform(2.3, 2.6, clump.sum())
    teff[gi], logg[gi] = t, np.clip(lg, 0.5, 3.6)
    # FGK dwarfs and subgiants: main sequence logg ~4.6 at 4500 K to ~4.1 at 6800 K
    t = rng.uniform(4300.0, 6800.0, dw.size)
    lg = 4.6 - 2.0e-4 * (t - 4500.0) + rng.normal(0.0, 0.12, dw.size)
    sub = rng.random(dw.size) < 0.2
    lg[sub] = rng.uniform(3.5, 4.0, sub.sum())
    teff[dw], logg[dw] = t, np.clip(lg, 3.5, 4.9)

    g1 = np.flatnonzero(group == 1)             # M dwarfs: cooler -> higher gravity
    t = rng.uniform(3530.0, 4000.0, g1.size)
    lg = 4.65 + 0.55 * (4000.0 - t) / 470.0 + rng.normal(0.0, 0.08, g1.size)
    teff[g1], logg[g1] = t, np.clip(lg, 4.5, 5.2)
    feh[g1] = np.clip(rng.normal(0.0, 0.2, g1.size), -0.8, 0.45)

    g2 = np.flatnonzero(group == 2)             # YSOs: cool, gravity between giants and MS
    teff[g2] = rng.uniform(3530.0, 4500.0, g2.size)
    logg[g2] = rng.uniform(3.0, 4.2, g2.size)
    feh[g2] = np.clip(rng.normal(0.0, 0.1, g2.size), -0.4, 0.3)   # young, near solar

    # thin/thick disc: [alpha/Fe] rises towards low [Fe/H]
    alpha = np.clip(-0.3 * feh, 0.0, 0.3) + rng.normal(0.0, 0.04, n)
    lab = np.stack([teff, logg, feh, np.clip(alpha, -0.1, 0.4)], axis=1)
    return np.clip(lab, lo + 1e-6, hi - 1e-6)


# ----------------------------------------------------------------------------- spectra
def _throughput(rng, n, scale_range):
    """Smooth random per-chip response times an overall scale, float32 (n, 7214).

    Per chip ``exp(c0 + c1 x + c2 (x**2 - 1/3))`` with x in [-1, 1] and
    c ~ N(0, [0.1, 0.08, 0.05]); overall scale log-uniform in ``scale_range``.
    """
    scale = 10.0 ** rng.uniform(np.log10(scale_range[0]), np.log10(scale_range[1]), n)
    parts = []
    for s in APSTAR_CHIP_SLICES:
        x = np.linspace(-1.0, 1.0, s.stop - s.start)
        c = rng.normal(0.0, [0.1, 0.08, 0.05], size=(n, 3))   # log-offset, slope, curvature
        c[:, 0] += np.log(scale)
        basis = np.stack([np.ones_like(x), x, x ** 2 - 1.0 / 3.0]).astype(np.float32)
        parts.append(c.astype(np.float32) @ basis)
    return np.exp(np.concatenate(parts, axis=1))


def _bad_pixels(rng, n, frac_range, max_run=6):
    """Random bad-pixel runs (cosmic rays, bad columns, persistence): bool (n, 8575)."""
    frac = rng.uniform(frac_range[0], frac_range[1], n)
    mean_len = (1 + max_run) / 2.0
    nruns = rng.poisson(frac * APSTAR_NPIX / mean_len)
    row = np.repeat(np.arange(n), nruns)
    start = rng.integers(0, APSTAR_NPIX, row.size)
    length = rng.integers(1, max_run + 1, row.size)
    off = np.arange(max_run)
    cols = start[:, None] + off
    take = (off < length[:, None]) & (cols < APSTAR_NPIX)
    bad = np.zeros((n, APSTAR_NPIX), dtype=bool)
    bad[np.broadcast_to(row[:, None], cols.shape)[take], cols[take]] = True
    return bad


def _noise_and_mask(rng, fk, snr, bad_pixel_fraction):
    """Noise, bad pixels and chip gaps: ``(flux, error, bad)`` on the apStar grid from noiseless (m, 7214)."""
    chips = aspcap_pixel_mask()
    m = len(fk)
    # photon-like noise: sigma ~ sqrt(flux) with ~10 % pixel-to-pixel variation,
    # scaled so that median(flux / sigma) over the chips equals the drawn S/N
    shape = np.sqrt(np.maximum(fk, 1e-3 * fk.mean(axis=1, keepdims=True)))
    shape *= np.exp(np.float32(0.1) * rng.standard_normal(fk.shape, dtype=np.float32))
    ratio = np.median(fk / shape, axis=1)
    sig = shape * (ratio / snr).astype(np.float32)[:, None]
    noisy = fk + sig * rng.standard_normal(fk.shape, dtype=np.float32)
    bad = _bad_pixels(rng, m, bad_pixel_fraction)
    bad[:, ~chips] = True
    fl = np.zeros((m, APSTAR_NPIX), dtype=np.float32)
    fl[:, chips] = noisy
    fl[bad] = 0.0
    er = np.full((m, APSTAR_NPIX), APSTAR_BAD_ERROR, dtype=np.float32)
    er[:, chips] = sig
    er[bad] = APSTAR_BAD_ERROR
    return fl, er, bad


def observe(flux7214, snr, seed=None, *, rng=None, scale_range=(1.0, 1.0e4),
            bad_pixel_fraction=(0.005, 0.04)):
    """The simulator's instrument on given noiseless spectra (n, 7214): overall scale and
    quadratic throughput per chip, photon-like noise at the per-pixel S/N ``snr`` (n,),
    random bad pixels, chip gaps -- exactly the steps :func:`simulate_apogee` applies after
    the emulator.  Returns ``(flux, error, mask)`` on the 8575-pixel apStar grid."""
    rng = np.random.default_rng(seed) if rng is None else rng
    fk = np.array(flux7214, dtype=np.float32, ndmin=2)
    fk *= _throughput(rng, len(fk), scale_range)
    return _noise_and_mask(rng, fk, np.asarray(snr, float), bad_pixel_fraction)


def simulate_apogee(n: int, seed=None, *, rng=None,
                    group_fractions=DEFAULT_GROUP_FRACTIONS,
                    snr_median: float = SNR_MEDIAN, snr_sigma: float = 0.6,
                    snr_range=SNR_RANGE, bad_pixel_fraction=(0.005, 0.04),
                    scale_range=(1.0, 1.0e4), dwarf_network_fraction: float = 0.5,
                    chunk: int = 1024, return_noiseless: bool = False,
                    realism: Realism | None = None) -> SimulatedSet:
    """Simulate a labelled set of raw-like APOGEE apStar spectra.

    Parameters
    ----------
    n : int
        Number of spectra.
    seed : int, optional
        Seed of a fresh ``numpy.random.default_rng``; ignored when ``rng`` is
        given.  The same seed gives identical output.
    rng : numpy.random.Generator, optional
    group_fractions : 3 floats
        Fractions of groups ("large", "mdwarf", "yso"); counts are rounded
        (remainder to "large") and shuffled, so fractions are exact to 1/n.
        Default 0.85 / 0.075 / 0.075 mimics the imbalance of Olney et al.
        (2020).
    snr_median, snr_sigma, snr_range
        Per-pixel S/N is lognormal with this median and log-width, clipped to
        ``snr_range`` (APOGEE's requirement is S/N ~100 per pixel; survey
        spectra spread from tens to several hundred).
    bad_pixel_fraction : (float, float)
        Per-spectrum fraction of randomly flagged pixels, drawn uniformly.
    scale_range : (float, float)
        Overall flux scale, log-uniform (real apStar medians: ~10 to ~1000).
    dwarf_network_fraction : float
        Fraction of the warm dwarfs inside the APOGEE-dwarf emulator's range
        (Teff 4200-6996 K, log g 4.0-4.98) simulated with that data-driven
        emulator instead of Kurucz; its normalised output is multiplied by the
        continuum of the Kurucz spectrum at the same labels.
    chunk : int
        Spectra generated at a time (memory ~ chunk * 0.3 MB).
    return_noiseless : bool
        Keep the flux before noise in ``SimulatedSet.noiseless``.
    realism : Realism, optional
        Effects the default simulation lacks (:mod:`zoo.families.apogeenet.realism`);
        default all off.  They draw from a stream spawned from ``rng``, so the
        base draws do not change when they are switched on.

    Returns
    -------
    SimulatedSet
    """
    from .continuum import fit_continuum  # local: continuum imports io.apstar only

    if n < 1:
        raise ValueError("n must be >= 1")
    fr = np.asarray(group_fractions, dtype=float)
    if fr.shape != (3,) or np.any(fr < 0) or fr.sum() <= 0:
        raise ValueError("group_fractions must be three non-negative numbers")
    fr = fr / fr.sum()
    rng = np.random.default_rng(seed) if rng is None else rng

    counts = np.floor(fr * n + 0.5).astype(int)
    counts[0] = n - counts[1:].sum()
    group = rng.permutation(np.repeat(np.arange(3), counts))

    real = realism or Realism()
    urng = rng.spawn(1)[0] if real.any_on else None     # the realism effects' own stream
    kur = PayneEmulator("kurucz")
    dwarf = PayneEmulator("apogee_dwarf") if dwarf_network_fraction > 0 else None
    feh_replace = None
    effects = {}
    if real.metal_poor_fraction > 0:
        mp = np.flatnonzero((group == 0) & (urng.random(n) < real.metal_poor_fraction))
        feh_replace = (mp, urng.uniform(real.feh_min, METAL_POOR_FEH_MAX, mp.size))
        effects["metal_poor"] = np.isin(np.arange(n), mp)
    labels4 = _draw_labels(rng, group, kur.bounds, feh_min=real.feh_min, feh_replace=feh_replace)
    # spots (YSOs and M dwarfs) and veiling (YSOs): per-spectrum parameters, 0 = none
    spot_f = np.zeros(n, np.float32)
    spot_t = labels4[:, 0].copy()
    if real.spot_fraction > 0:
        on = (group > 0) & (urng.random(n) < real.spot_fraction)
        spot_f[on] = urng.uniform(*real.spot_filling, on.sum())
        spot_t[on] = np.maximum(labels4[on, 0] * urng.uniform(*real.spot_contrast, on.sum()), kur.x_min[0] + 1e-6)
        effects["spot_filling"], effects["spot_teff"] = spot_f, spot_t.astype(np.float32)
    veil_r = np.zeros(n, np.float32)
    if real.veiling_fraction > 0:
        on = (group == 2) & (urng.random(n) < real.veiling_fraction)
        veil_r[on] = urng.uniform(0.0, real.veiling_max, on.sum())
        effects["veiling"] = veil_r
    tel_delta = sky_amp = shifts = None
    if real.telluric_residual > 0 or real.sky_residual > 0:
        shifts = urng.integers(-_realism.TEMPLATE_SHIFT, _realism.TEMPLATE_SHIFT + 1, n)
        effects["template_shift"] = shifts
    if real.telluric_residual > 0:
        tel_delta = urng.normal(0.0, real.telluric_residual, n).astype(np.float32)
        effects["telluric_delta"] = tel_delta
    snr = np.clip(snr_median * np.exp(rng.normal(0.0, snr_sigma, n)), *snr_range)
    if real.sky_residual > 0:   # the sky is relatively brighter for fainter (lower S/N) stars
        sky_amp = (urng.normal(0.0, real.sky_residual, n) * SKY_RESIDUAL_SNR / snr).astype(np.float32)
        effects["sky_amp"] = sky_amp

    use_dwarf = np.zeros(n, dtype=bool)
    if dwarf is not None:
        dlo, dhi = dwarf.bounds
        eligible = ((group == 0) & (labels4[:, 0] >= dlo[0]) & (labels4[:, 0] <= dhi[0])
                    & (labels4[:, 1] >= dlo[1]) & (labels4[:, 1] <= dhi[1])
                    & (labels4[:, 2] >= dlo[2]) & (labels4[:, 2] <= dhi[2]))
        use_dwarf = eligible & (rng.random(n) < dwarf_network_fraction)
    vmacro = np.clip(rng.normal(6.0, 1.5, n), 2.0, 12.0)
    chips = aspcap_pixel_mask()
    gaps = ~chips

    flux = np.empty((n, APSTAR_NPIX), dtype=np.float32)
    error = np.empty((n, APSTAR_NPIX), dtype=np.float32)
    mask = np.empty((n, APSTAR_NPIX), dtype=bool)
    noiseless = np.empty((n, APSTAR_NPIX), dtype=np.float32) if return_noiseless else None

    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        m = b - a
        fk = kur.flux(labels4[a:b])                                   # (m, 7214)
        sp = np.flatnonzero(spot_f[a:b] > 0)
        if sp.size:                                                   # two-temperature surface
            cold = labels4[a:b][sp].copy()
            cold[:, 0] = spot_t[a:b][sp]
            fk[sp] = _realism.spot_mix(fk[sp], kur.flux(cold), spot_f[a:b][sp])
        fk /= fk.mean(axis=1, keepdims=True)
        vl = np.flatnonzero(veil_r[a:b] > 0)
        if vl.size:                                                   # continuum excess r * C
            kg, _ = kur.on_apstar_grid(fk[vl])
            cont, _ = fit_continuum(kg, mask=np.broadcast_to(gaps, kg.shape))
            fk[vl] = _realism.veil(fk[vl], cont[:, chips].astype(np.float32), veil_r[a:b][vl])
        ud = np.flatnonzero(use_dwarf[a:b])
        if ud.size:
            lab5 = np.column_stack([labels4[a:b][ud], vmacro[a:b][ud]])
            lab5 = np.clip(lab5, dwarf.x_min, dwarf.x_max)
            kg, _ = kur.on_apstar_grid(fk[ud])
            cont, _ = fit_continuum(kg, mask=np.broadcast_to(gaps, kg.shape))
            fk[ud] = dwarf.flux(lab5) * cont[:, chips]
        fk *= _throughput(rng, m, scale_range)
        if real.spline_throughput > 0:                                # ripples beyond the quadratic
            fk *= _realism.spline_throughput(urng, m, real.spline_throughput)
        if tel_delta is not None:                                     # telluric column mismatch T^delta
            fk *= _realism.telluric_template(shifts[a:b]) ** tel_delta[a:b, None]
        if sky_amp is not None:                                       # OH sky-subtraction residuals
            level = np.stack([np.median(fk[:, o:o + (s.stop - s.start)], axis=1)
                              for o, s in zip(_CHIP_OFFSETS, APSTAR_CHIP_SLICES)], axis=1)
            level = np.repeat(level, _CHIP_SIZES, axis=1)
            fk += sky_amp[a:b, None] * _realism.sky_template(shifts[a:b]) * level
        fl, er, bad = _noise_and_mask(rng, fk, snr[a:b], bad_pixel_fraction)
        flux[a:b], error[a:b], mask[a:b] = fl, er, bad
        if return_noiseless:
            noiseless[a:b] = kur.on_apstar_grid(fk)[0]

    truth = labels4[:, :3].astype(np.float32)
    labels = truth
    if any(v > 0 for v in real.label_noise):                      # noisy catalogue labels
        labels = (truth + urng.normal(0.0, 1.0, truth.shape) * np.asarray(real.label_noise)).astype(np.float32)
    return SimulatedSet(flux=flux, error=error, mask=mask, labels=labels,
                        alpha_fe=labels4[:, 3].astype(np.float32), group=group,
                        snr=snr.astype(np.float32), source=use_dwarf.astype(np.int8),
                        noiseless=noiseless, labels_true=truth, effects=effects)
