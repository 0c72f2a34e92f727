"""What Olney et al. (2020) report, as data: the one place the zoo quotes the paper's numbers.

Olney et al. (2020), *APOGEE Net: Improving the Derived
Spectral Parameters for Young Stars through Deep Learning*, AJ 159, 182 (``../shared/papers``).
The rendered tables of docs/apogeenet.md (``evaluation/apogeenet.py``) read these.
"""
from __future__ import annotations

#: The journal reference (the paper's running head: "THE ASTRONOMICAL JOURNAL, 159:182")
JOURNAL = "AJ 159, 182"
#: Sec. 2.2: The Payne's labels cover "222,707 spectra within the APOGEE DR14 data set"
N_PAYNE = 222_707
#: Sec. 2.2: photometric labels "for 4480 low-mass MS stars and 2446 YSOs" (Secs. 2.3-2.4)
N_MDWARF = 4480
N_YSO = 2446
#: Sec. 2.2: The Payne's labels are adopted "for stars with Teff > 4000 K or log g < 3.5"
PAYNE_TEFF_MIN = 4000
PAYNE_LOGG_MAX = 3.5
#: Table 1 (normalization values): only sigma_Teff is readable in the extracted text ("733.01"); the
#: other entries are garbled
TABLE1_STD_TEFF = 733.01
#: Sec. 3.5: "At low S/N (<10-20), the uncertainties in all parameters" grow (Fig. 4, right)
LOW_SNR = 10
#: Sec. 3.6: "The typical agreement between the input labels and the resulting predictions is 100 K in
#: Teff, 0.15 dex in log g, and 0.07 dex in Fe/H (Table 3 ...)"
TYPICAL_AGREEMENT = (100.0, 0.15, 0.07)

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

#: StarNet, Fabbro et al. (2018): the journal reference, as Zhang et al. (2025, the survey in
#: ../shared/papers) cite it (their ref. [68]: "Monthly Notices of the Royal Astronomical Society, 475(3): 2978-2993")
STARNET_JOURNAL = "MNRAS 475, 2978"
