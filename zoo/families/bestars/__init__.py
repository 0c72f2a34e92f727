"""The emission-line family: the Be-star H-alpha classifier of O. Podsztavek (2017),
"Deep Learning in Large Astronomical Spectra Archives" (bachelor's thesis, CTU Prague).

Contributes: the models ``emission_fc`` and ``emission_cnn`` (:mod:`.models`, recipe
in :mod:`.recipes`, presets in ``presets/``), the thesis's preprocessing and its two
instrument paths (:mod:`.preprocess`; the contract normalization
``"emission_standardize"``), the Ondřejov- and LAMOST-like simulator (:mod:`.simulate`), the
out-of-domain score ``"emission_pca_distance"`` (:mod:`.trust`), the demo of
``python -m zoo demo`` and the candidate search
(``python -m zoo.families.bestars.candidates``).

No TensorFlow at import time.
"""
from __future__ import annotations

import numpy as np

from . import models  # noqa: F401  (registers emission_fc, emission_cnn)
from . import ondrejov  # noqa: F401  (registers the "ondrejov" file format)
from . import preprocess  # noqa: F401  (registers the "emission_standardize" normalization)
from . import trust  # noqa: F401  (registers the "emission_pca_distance" trust method)
from ...onnx_kit import BATCH_SIZE
from .demo import register as _register_demo
from .preprocess import prepare

__all__ = ["predict_spectra", "prepare"]

_register_demo()


def predict_spectra(model, X, wavelength=None, *, instrument: str | None = None, medium=None,
                    batch_size: int = BATCH_SIZE) -> dict:
    """What ``model.predict`` returns (``halpha_class``, ``halpha_class_probability``,
    ``domain_score``, ``out_of_domain``), with each input through its instrument's thesis
    path: files and Spectrum objects by their ``meta["instrument"]``, arrays by
    ``instrument=`` (the contract's instrument step), plus all class ``probabilities``.  ``model`` is a
    :class:`zoo.predictor.Predictor` of ``emission_fc`` or ``emission_cnn``."""
    prep = model.prepare(X, wavelength, medium=medium, instrument=instrument)
    out = model.predict_prepared(prep, batch_size)
    out["probabilities"] = np.asarray(model.forward(prep.flux, batch_size)[model.card.outputs[0].name], float)
    return out
