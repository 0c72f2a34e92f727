"""What Podsztavek (2017) reports, as data: the one place the zoo quotes the thesis's numbers.

Podsztavek, O. (2017), *Deep Learning in Large Astronomical Spectra Archives* (bachelor's thesis,
Czech Technical University in Prague; ``../shared/papers``).  docs/bestars.md's generated blocks (``evaluation/bestars.py``) read these.
"""
from __future__ import annotations

#: Sec. 9.2.4 / Fig. 9.4: per-class test accuracy (%) of the networks trained on SMOTE-balanced data
SMOTE_ACCURACY = {
    "emission_fc": {"emission": 98, "absorption": 99, "double-peak": 94},
    "emission_cnn": {"emission": 99, "absorption": 99, "double-peak": 95},
}
#: the epochs the thesis trains for (Sec. 9.2, Fig. 9.3: "250 epochs with batch size 256")
EPOCHS = 250
