"""What Zou et al. (2020) report, as data: the one place the zoo quotes the paper's numbers.

Zou et al. (2020), *Classification of celestial spectra based on a
residual and attention based convolutional network (RAC-Net)*, PASP 132, 044503
(``../shared/papers``).  The tests (parameter counts within 5 % of Table 4), the architecture
text of the cards and the rendered tables of docs/racnet.md read these; nothing restates them.
"""
from __future__ import annotations

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
