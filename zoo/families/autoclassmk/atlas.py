"""The MK standard atlases libr18 and libr18_27 as AutoClassMK uses them (Short 2026, Sec. II).

The bundled atlases (``zoo/families/autoclassmk/data/mk_atlas``, provenance in ``PROVENANCE.md``
there) are read with :func:`zoo.families.autoclassmk.rbn.read_rbn`, clipped to the 1600 pixels
3800.0-4599.5 A, relabeled to three luminosity classes and pruned so that every
spectral class kept has all of I, III and V.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from zoo.families.autoclassmk.rbn import read_rbn
from zoo.preprocess import mask_edges

__all__ = ["LUMINOSITY_RELABEL", "LUMINOSITY_CLASSES", "AtlasSet", "load_atlas",
           "prune_complete", "atlas_dir"]

#: Sec. II: "II as III, IV as V, Ia/Ib as I".
LUMINOSITY_RELABEL = {"Ia": "I", "Ib": "I", "II": "III", "II-III": "III", "III": "III",
                      "III-IV": "III", "IV": "V", "V": "V"}
LUMINOSITY_CLASSES = ["I", "III", "V"]

#: Pixel grid of the AutoClassMK input: 1600 pixels, 3800.0-4599.5 A, 0.5 A steps.
START, STEP, NPIX = 3800.0, 0.5, 1600


@dataclass
class AtlasSet:
    """Spectra of an atlas on the AutoClassMK grid, with MK labels.

    ``flux`` is the rectified flux as in the file (zeros where missing) and
    ``mask`` marks those missing pixels; fill them with
    :func:`zoo.preprocess.fill_missing` before a network sees them.
    """

    name: str
    files: list[str]
    flux: np.ndarray           # (n, 1600)
    mask: np.ndarray           # (n, 1600) bool
    spectral_type: np.ndarray  # (n,) str, e.g. "B3"
    spectral_code: np.ndarray  # (n,) float MKCLASS code (orders the types)
    luminosity_type: np.ndarray  # (n,) str, original class, e.g. "II-III"
    luminosity_class: np.ndarray  # (n,) str, relabeled: I, III or V
    dropped: dict = field(default_factory=dict)  # file -> reason

    def __len__(self):
        return len(self.files)

    def subset(self, keep: np.ndarray, reason: str | None = None) -> "AtlasSet":
        keep = np.asarray(keep, bool)
        dropped = dict(self.dropped)
        if reason:
            dropped.update({f: reason for f, k in zip(self.files, keep) if not k})
        return AtlasSet(self.name, [f for f, k in zip(self.files, keep) if k], self.flux[keep],
                        self.mask[keep], self.spectral_type[keep], self.spectral_code[keep],
                        self.luminosity_type[keep], self.luminosity_class[keep], dropped)

    @property
    def spectral_classes(self) -> list[str]:
        """Spectral types present, in MK order (hot to cool)."""
        order = np.argsort(self.spectral_code, kind="stable")
        seen = dict.fromkeys(self.spectral_type[order])
        return list(seen)


def atlas_dir(name: str) -> str:
    """Directory of a bundled atlas (``libr18`` or ``libr18_27``)."""
    return str(resources.files("zoo") / "families" / "autoclassmk" / "data" / "mk_atlas" / name)


def load_atlas(name: str = "libr18", directory: str | None = None,
               edge_guard: bool = True) -> AtlasSet:
    """Read every ``.rbn`` file of an atlas and clip it to 3800.0-4599.5 A.

    With ``edge_guard`` the non-physical edges are masked exactly as the
    AutoClassMK input contract masks them at prediction time
    (:func:`zoo.preprocess.mask_edges` with the preset's ``edge_guard`` and
    ``edge_floor``), on the file's full grid before clipping.
    """
    from zoo.registry import load_preset
    contract = load_preset("autoclassmk").input
    directory = directory or atlas_dir(name)
    files = sorted(f for f in os.listdir(directory) if f.endswith(".rbn"))
    if not files:
        raise FileNotFoundError(f"no .rbn files in {directory}")
    grid = START + STEP * np.arange(NPIX)
    flux, mask, st, sc, lt = [], [], [], [], []
    for f in files:
        s = read_rbn(os.path.join(directory, f))
        wave = s.angstrom
        if edge_guard:
            s.mask = mask_edges(s.flux[None], s.mask[None], wave, contract.edge_guard, contract.edge_floor)[0]
        i0 = int(np.searchsorted(wave, START - 1e-6))
        if wave.size < i0 + NPIX or not np.allclose(wave[i0:i0 + NPIX], grid, atol=1e-6):
            raise ValueError(f"{f}: not on the 0.5 A grid from 3800.0 A")
        flux.append(s.flux[i0:i0 + NPIX])
        mask.append(s.mask[i0:i0 + NPIX])
        st.append(s.meta["spectral_type"])
        sc.append(s.meta["spectral_code"])
        lt.append(s.meta["luminosity_type"])
    lt = np.array(lt)
    return AtlasSet(name, files, np.array(flux), np.array(mask), np.array(st), np.array(sc),
                    lt, np.array([LUMINOSITY_RELABEL[x] for x in lt]))


def prune_complete(atlas: AtlasSet, classes=LUMINOSITY_CLASSES) -> AtlasSet:
    """Keep only spectral classes that have every luminosity class in ``classes``.

    Sec. II: the training set must cover each spectral class at I, III and V.
    """
    complete = {t for t in set(atlas.spectral_type)
                if set(classes) <= set(atlas.luminosity_class[atlas.spectral_type == t])}
    keep = np.isin(atlas.spectral_type, sorted(complete))
    return atlas.subset(keep, reason="spectral class lacks one of luminosity classes "
                                     + "/".join(classes))
