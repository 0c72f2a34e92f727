"""Simulated labelled spectra for training and testing the zoo's models.

:mod:`zoo.simulate.payne` turns The Payne's emulators (Ting et al. 2019) into
raw-like APOGEE apStar spectra with the group structure of Olney et al.
(2020); see :func:`simulate_apogee`.
"""
from .payne import (DEFAULT_GROUP_FRACTIONS, GROUP_NAMES, PayneEmulator,
                    SimulatedSet, simulate_apogee)

__all__ = ["PayneEmulator", "SimulatedSet", "simulate_apogee", "GROUP_NAMES",
           "DEFAULT_GROUP_FRACTIONS"]
