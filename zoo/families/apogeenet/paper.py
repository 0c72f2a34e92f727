"""What Olney et al. (2020) report, as data: the one place the zoo quotes the paper's numbers.

Olney et al. (2020), *APOGEE Net: Improving the Derived
Spectral Parameters for Young Stars through Deep Learning*, AJ 159, 182 (``../shared/papers``).
The rendered tables of docs/apogeenet.md (``evaluation/apogeenet.py``) read these.
"""
from __future__ import annotations

#: Table 2, "Combined Standardized MSE Loss": group -> (train, dev, test)
TABLE2 = {"Full": (0.044, 0.049, 0.063), "MStar": (0.08, 0.098, 0.196), "YSO": (0.153, 0.168, 0.217)}
#: Table 3, "Typical Scatter ...": group -> label -> (train, dev, test), as printed; None: unreadable
TABLE3 = {
    "Full": {"teff": ("144.82", "158.72", "183.74"), "logg": ("0.189", "0.203", "0.216"),
             "feh": ("0.0769", "0.0792", "0.0914")},
    "MStar": {"teff": ("129.69", "167.15", "273.7"), "logg": ("0.186", "0.216", "0.346"),
              "feh": ("0.129", "0.137", "0.18")},
    "YSO": {"teff": ("413.92", "436.87", "490.99"), "logg": ("0.366", "0.364", None),
            "feh": ("0.0616", "0.0669", "0.0879")},
}
#: Sec. 2.2: typical uncertainties of The Payne's training labels, "~100 K in Teff, ~0.1 dex in log g, and
#: ~0.03 dex in abundance space" (Teff K, log g, [Fe/H])
LABEL_NOISE = (100.0, 0.1, 0.03)
