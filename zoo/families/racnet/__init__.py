"""The LAMOST classification family: RAC-Net, RC-Net and C-Net (Zou et al. 2020, PASP 132, 044503).

Contributes: the models ``racnet_ds1``, ``racnet_ds2``, ``racnet_fgk`` and the
ablations ``rcnet_*``, ``cnet_*``, ``fcnet_*`` (:mod:`.models`, recipes in
:mod:`.recipes`, presets in ``presets/``), the Eq. 1 flux normalization ``"l2"``
(:mod:`.preprocess`), the LAMOST-like simulator built on the DESI redrock
templates (:mod:`.simulate`, data in ``zoo/data/redrock/``) and the
out-of-domain scores ``"pca_knn"``, ``"pca_knn2"`` and ``"pca_knn_tpl"`` (:mod:`.trust`; the
redrock-like template fits of the last in :mod:`.tplfit`).  Nothing here imports
TensorFlow at import time.
"""
from . import preprocess  # noqa: F401  (registers the "l2" normalization)
from . import models  # noqa: F401  (registers the models)
from . import trust  # noqa: F401  (registers the "pca_knn", "pca_knn2" and "pca_knn_tpl" trust methods)
from .demo import register as _register_demo  # noqa: E402

_register_demo()
