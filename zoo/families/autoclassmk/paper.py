"""What Short (2026) reports, as data: the one place the zoo quotes the paper's numbers.

Short (2026), *AutoClassMK*, arXiv:2606.11161 (``../shared/papers``).  The training report
(``training/autoclassmk.py``) and docs/autoclassmk.md (``evaluation/autoclassmk.py``) read these.
"""
from __future__ import annotations

#: Table 1: the paper's results (not recipe numbers), per head
TABLE1 = {"spectral_class": {"accuracy": 0.88, "macro_f1": 0.86},
          "luminosity_class": {"accuracy": 0.97, "macro_f1": 0.97}}
#: Sec. II: the pruned training atlas as the paper reports it
ATLAS = {"spectra": 122, "classes": 31}
#: Sec. III.4: the weights' initial N(0, sigma), biases zero (the models' ``init="normal"``)
INIT_STDDEV = 0.1
#: the MK atlases libr18 and libr18_27 as the paper cites them (its Sec. I and reference list)
ATLAS_CITATION = "Gray & Corbally 2014"
