"""The APOGEE family: APOGEE Net (Olney et al. 2020) and StarNet (Fabbro et al. 2018).

Contributes: the models ``apogeenet`` and ``starnet`` (:mod:`.models`,
recipes in :mod:`.recipes`, presets in ``presets/``), the per-chip continuum
normalization ``"apogee_continuum"`` (:mod:`.continuum`), the Payne-emulator
simulator (:mod:`.simulate`), the label relations of the small groups
(:mod:`.labels`), the out-of-domain score ``"payne_consistency"`` and the calibrated
uncertainties (:mod:`.trust`) and the demo of ``python -m zoo demo``.
"""
from . import apstar  # noqa: F401  (registers the "apstar" file format)
from . import continuum  # noqa: F401  (registers the "apogee_continuum" normalization)
from . import models  # noqa: F401  (registers the models)
from . import trust as _trust
from .demo import register as _register_demo

_register_demo()
_trust.register()
