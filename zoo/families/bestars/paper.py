"""What Podsztavek (2017) reports, as data: the one place the zoo quotes the thesis's numbers.

Podsztavek, O. (2017), *Deep Learning in Large Astronomical Spectra Archives* (bachelor's thesis,
Czech Technical University in Prague; ``../shared/papers``).  The preprocessing (Eqs. 7.1-7.3), the
recipes (Table 6.1's class counts), the training reports and tests (Table 9.1, Figs. 9.2 and 9.4) and
docs/bestars.md's generated blocks (``evaluation/bestars.py``) read these; nothing restates them.
"""
from __future__ import annotations

#: the thesis, as docs/bestars.md cites it
CITATION = ("O. Podsztavek (2017), *Deep Learning in Large Astronomical Spectra Archives*, bachelor's thesis, "
            "Czech Technical University in Prague")

#: Eqs. 7.1-7.3 (air -> vacuum) as a contract medium-conversion rule (:func:`zoo.preprocess.convert_medium`)
AIR_TO_VACUUM = {"coefficients": [8.34254e-5, 2.406147e-2, 130.0, 1.5998e-4, 38.9], "apply": "multiply"}
#: Table 6.1 (the 398 "unknown" spectra left out), in the models' class order
CLASS_COUNTS = (("emission", 5301), ("absorption", 6103), ("double-peak", 1533))
#: Sec. 6.2, Table 6.1: "unknown", spectra which "cannot be easily classified"
UNKNOWN_COUNT = 398
#: Sec. 6.2: "The resulting dataset consists of 13 335 spectra" (Table 6.1, the unknown included)
DATASET_SIZE = 13335
#: the labelled spectra of the three classes (Table 6.1 without the unknown)
LABELLED = sum(n for _, n in CLASS_COUNTS)
#: Sec. 6.2: "supremum from all wavelength ends is 6732.74 Å"
WAVELENGTH_SUPREMUM = 6732.74
#: Table 9.1: train / validation / test counts per class
TABLE_9_1 = {"train": {"emission": 3817, "absorption": 4393, "double-peak": 1104},
             "validation": {"emission": 954, "absorption": 1099, "double-peak": 276},
             "test": {"emission": 530, "absorption": 611, "double-peak": 153}}
#: Sec. 9.2.4, Fig. 9.4: per-class test accuracy of the networks trained on SMOTE-balanced data; Fig. 9.2:
#: FC on the imbalanced training set (double-peak 92 %)
PER_CLASS = {"emission_cnn": {"emission": 0.99, "absorption": 0.99, "double-peak": 0.95},
             "emission_fc": {"emission": 0.98, "absorption": 0.99, "double-peak": 0.94},
             "emission_fc_imbalanced": {"double-peak": 0.92}}
#: the epochs the thesis trains for (Sec. 9.2, Fig. 9.3: "250 epochs with batch size 256")
EPOCHS = 250
#: Sec. 9.4: the final CNN, trained on the whole Ondřejov dataset, "was stopped after 229 epochs"
FINAL_CNN_EPOCHS = 229
#: Sec. 9.4: "Prediction of 2 202 000 spectra from LAMOST data release 1 has taken 1 minute 36 seconds"
LAMOST_DR1_SPECTRA = 2202000
LAMOST_PREDICTION_SECONDS = 96
#: the same, as spectra per second (derived)
LAMOST_SPECTRA_PER_SECOND = LAMOST_DR1_SPECTRA / LAMOST_PREDICTION_SECONDS
#: Sec. 9.3, Table 9.2: the GPU of the thesis's runs
GPU = "GeForce GTX 980"
