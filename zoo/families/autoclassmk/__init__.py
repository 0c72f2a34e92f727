"""The MK family: AutoClassMK (C. I. Short 2026, arXiv:2606.11161) and its variants.

Contributes: the models ``autoclassmk``, ``autoclassmk_broad`` and
``autoclassmk_kerasinit`` (:mod:`.models`, recipes in :mod:`.recipes`,
preset ``presets/autoclassmk.json``), the MK atlases (:mod:`.atlas`), the
Sec. II augmentation (:mod:`.augment`), the out-of-domain score ``"mk_standard_fit"``
(:mod:`.trust`), the rectification of flux-calibrated input (native step
``"mk_rectify"``, selected by ``instrument="flux_calibrated"``; :mod:`.rectify`),
the grouped cross-validation by star (:mod:`.grouped_cv`) and the demo of
``python -m zoo demo``.
"""
from . import models  # noqa: F401  (registers the models)
from . import rbn  # noqa: F401  (registers the MKCLASS ".rbn" file format)
from . import rectify  # noqa: F401  (registers the native step mk_rectify)
from . import trust as _trust
from .demo import register as _register_demo

_register_demo()
_trust.register()
