"""What Zou et al. (2020) report, as data: the one place the zoo quotes the paper's numbers.

Zou et al. (2020), *Classification of celestial spectra based on a
residual and attention based convolutional network (RAC-Net)*, PASP 132, 044503
(``../shared/papers``).  The tests (parameter counts within 5 % of Table 4), the architecture
text of the cards and the rendered tables of docs/racnet.md read these; nothing restates them.
"""
from __future__ import annotations

#: Sec. 2.1: "approximately 3800 dimensional data with a wavelength ranging from 3690 to 9100 A" (LAMOST DR5)
PIXELS_APPROX = 3800
WAVELENGTH_RANGE = (3690, 9100)
#: Sec. 2.1 (and the abstract): "we used 70,000 pieces of spectral data to construct three data sets"
N_SPECTRA = 70_000
#: Table 1 (Sec. 2.7): spectra per class in each data set
PER_CLASS = 10_000
#: Sec. 2.7: "an FC layer of 128 neurons", neurons dormant "with a probability of 0.5" (dropout); the
#: reconstruction's head uses these (``models.py``)
FC_UNITS = 128
FC_DROPOUT = 0.5
#: Table 4: parameters and test accuracy (%) on Data sets 1, 2 and 3 (DS3 is the F/G/K task, ``*_fgk``)
TABLE4 = {
    "cnet": {"params": 2.89e6, "ds1": 88.75, "ds2": 98.58, "fgk": 91.97},
    "rcnet": {"params": 0.388e6, "ds1": 93.33, "ds2": 98.81, "fgk": 93.07},
    "racnet": {"params": 0.623e6, "ds1": 93.52, "ds2": 98.92, "fgk": 93.25},
}
#: Table 2's "FC network" row (Data set 1 only; its sizes are not given)
TABLE2_FC = {"fcnet": {"params": None, "ds1": 77.13, "ds2": None, "fgk": None}}
#: the tolerance of the reconstruction's parameter counts against Table 4
PARAMS_TOLERANCE = 0.05


def params_text(arch: str) -> str:
    """Table 4's parameter count of ``arch`` as the paper prints it (``"0.388 M"``), ``"-"`` if none."""
    p = {**TABLE4, **TABLE2_FC}[arch]["params"]
    return "-" if p is None else f"{p / 1e6:g} M"
