"""Typed errors of the zoo.

Every problem with user input raises a subclass of :class:`ZooError` that names
the problem, so that a batch job can catch exactly what it expects and report
the file it came from.  All input errors are also ``ValueError`` so that
generic code catching ``ValueError`` keeps working.
"""


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class SpectrumError(ZooError, ValueError):
    """A spectrum that cannot be brought to a model's input contract."""


class NonFiniteFluxError(SpectrumError):
    """Flux (or errors) contain NaN or +-inf."""


class SpectrumLengthError(SpectrumError):
    """Flux has the wrong number of pixels, or flux and wavelength differ in length."""


class WavelengthCoverageError(SpectrumError):
    """The wavelengths do not cover the model's input range."""


class NonMonotonicWavelengthError(SpectrumError):
    """Wavelengths are not strictly increasing."""


class WavelengthUnitError(SpectrumError):
    """Wavelengths are not a length, or plain floats that do not look like Angstrom."""


class InsufficientDataError(SpectrumError):
    """Too few valid pixels on the model's grid (e.g. a spectrum of all zeros, all masked)."""


class UnphysicalFluxError(SpectrumError):
    """Flux that is physically impossible for the model's input contract (e.g. negative
    rectified flux)."""


class SpectrumFileError(ZooError, OSError):
    """A spectrum file that cannot be read: missing, corrupt or of an unknown format."""


class UnsupportedFormatError(SpectrumFileError):
    """No reader of the zoo recognises the file."""


class CorruptFileError(SpectrumFileError):
    """The file is of a known format but damaged or truncated."""


class ArtifactError(ZooError, RuntimeError):
    """An exported model artifact is missing, damaged or does not match its card."""


class ChecksumMismatchError(ArtifactError):
    """An artifact's sha256 differs from the one recorded in its model card."""


class DownloadError(ArtifactError):
    """A published model could not be downloaded from the hub (an HTTP error such as 404,
    a connection lost mid-file after every retry); nothing partial is kept."""


class OfflineError(DownloadError):
    """A model must be downloaded but cannot be: the hub is unreachable (no network, no
    server) or downloads are switched off (``$ZOO_OFFLINE=1``, ``download=False``)."""


class UnsafeArchiveError(ArtifactError):
    """A release archive that would write outside its folder (``../`` or absolute member
    names), holds links or devices, or holds files its card does not list."""


class TrustSpecError(ZooError, ValueError):
    """A card's ``trust`` block that lacks what every trust block needs: a ``method`` (a name
    registered with :func:`zoo.registry.register_trust`) and a numeric ``threshold``
    (:class:`zoo.card.TrustSpec`)."""


class UnknownModelError(ZooError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self):  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown model"
