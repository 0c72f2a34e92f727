"""Model cards: the single source of truth for a model's input, outputs and provenance.

A card starts life as a *preset* (``zoo/cards/<name>.json``: paper, input
contract, outputs, recipe, data), is read by training to build inputs, and is
completed by export (metrics, artifact sha256, library versions) into
``exported/<name>/card.json``, which prediction reads.  Presets are data, not
code, so one JSON file is all that differs between models of a family.
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import numpy as np

__all__ = ["InputContract", "OutputSpec", "ModelCard", "load_preset"]


@dataclass
class InputContract:
    """What a model's input vector is.

    Attributes
    ----------
    wavelength_start : float
        Wavelength of pixel 0 in Angstrom (for ``grid="log10"``: in Angstrom too;
        the grid is ``10**(log10(start) + step * i)``).
    step : float
        Pixel step: Angstrom for a linear grid, dex for a log10 grid.
    n_pixels : int
    grid : {"linear", "log10"}
    medium : {"air", "vacuum"}
    flux_normalization : str
        Name of the normalization in :mod:`zoo.preprocess` applied before the
        model (``"rectified"``: the flux is already continuum-normalized).
    missing_pixels : str
        How pixels outside the observed range or masked are filled.
    fill_value : float
        Value given to pixels outside the observed range after normalization.
    """

    wavelength_start: float
    step: float
    n_pixels: int
    grid: str = "linear"
    medium: str = "air"
    flux_normalization: str = "rectified"
    missing_pixels: str = ""
    fill_value: float = 1.0

    def wavelength(self) -> np.ndarray:
        """The model's pixel wavelengths in Angstrom."""
        i = np.arange(self.n_pixels, dtype=float)
        if self.grid == "linear":
            return self.wavelength_start + self.step * i
        if self.grid == "log10":
            return 10.0 ** (np.log10(self.wavelength_start) + self.step * i)
        raise ValueError(f"unknown grid {self.grid!r}")

    @property
    def wavelength_end(self) -> float:
        return float(self.wavelength()[-1])


@dataclass
class OutputSpec:
    """One named model output (a classifier head or a set of regressed labels).

    ``kind="class"``: ``classes`` are the class names in the order of the
    softmax units.  ``kind="regression"``: ``labels`` name the columns and
    ``units`` their units; ``mean``/``std`` (when set) undo the target
    standardization the model was trained with (y = mean + std * output).
    """

    name: str
    kind: str
    classes: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    mean: list[float] | None = None
    std: list[float] | None = None
    description: str = ""


@dataclass
class ModelCard:
    name: str
    title: str
    paper: dict[str, Any]
    architecture: str
    input: InputContract
    outputs: list[OutputSpec]
    recipe: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # -- helpers -----------------------------------------------------------
    def output(self, name: str) -> OutputSpec:
        for out in self.outputs:
            if out.name == name:
                return out
        raise KeyError(f"{self.name} has no output {name!r}; outputs: {self.output_names}")

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    @property
    def labels(self) -> dict[str, list[str]]:
        """Class names per classifier head and label names per regression output."""
        return {o.name: list(o.classes if o.kind == "class" else o.labels) for o in self.outputs}

    def replace(self, **changes) -> "ModelCard":
        new = copy.deepcopy(self)
        for k, v in changes.items():
            setattr(new, k, v)
        return new

    # -- (de)serialization -------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelCard":
        d = dict(d)
        d["input"] = InputContract(**d["input"])
        d["outputs"] = [OutputSpec(**o) for o in d["outputs"]]
        return cls(**d)

    def to_json(self, path) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=2, sort_keys=False, default=_json_default)
            fh.write("\n")

    @classmethod
    def from_json(cls, path) -> "ModelCard":
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    def to_markdown(self) -> str:
        """The card as a Markdown page section (used by docs and ``zoo info``)."""
        c = self.input
        lines = [f"# {self.title} (`{self.name}`)", "",
                 f"**Paper:** {self.paper.get('citation', '')}", "",
                 f"**Architecture:** {self.architecture}", "",
                 "## Input contract", "",
                 f"- grid: {c.grid}, {c.n_pixels} pixels from {c.wavelength_start} A, step {c.step} "
                 f"({'A' if c.grid == 'linear' else 'dex'}), to {c.wavelength_end:.2f} A, {c.medium} wavelengths",
                 f"- flux normalization: {c.flux_normalization}",
                 f"- missing pixels: {c.missing_pixels}", "", "## Outputs", ""]
        for o in self.outputs:
            if o.kind == "class":
                lines.append(f"- `{o.name}` ({len(o.classes)} classes): {', '.join(o.classes)}")
            else:
                lines.append(f"- `{o.name}`: " + ", ".join(
                    f"{lab} [{unit}]" for lab, unit in zip(o.labels, o.units)))
        for title, section in (("Recipe", self.recipe), ("Data", self.data),
                               ("Metrics", self.metrics), ("Artifacts", self.artifacts),
                               ("Versions", self.versions)):
            if section:
                lines += ["", f"## {title}", "", "```json",
                          json.dumps(section, indent=2, default=_json_default), "```"]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj)}")


def load_preset(name: str) -> ModelCard:
    """The design-time card shipped with the package (``zoo/cards/<name>.json``)."""
    ref = resources.files("zoo") / "cards" / f"{name}.json"
    with ref.open("r", encoding="utf-8") as fh:
        return ModelCard.from_dict(json.load(fh))


def card_path(directory) -> str:
    return os.path.join(os.fspath(directory), "card.json")
