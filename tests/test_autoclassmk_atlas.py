"""MKCLASS .rbn reader, the bundled atlases, relabeling and pruning (Short 2026, Sec. II)."""
import os

import numpy as np
import pytest

from zoo.families.autoclassmk.atlas import LUMINOSITY_RELABEL, atlas_dir, load_atlas, prune_complete
from zoo.errors import CorruptFileError, SpectrumFileError, UnsupportedFormatError
from zoo.io import read
from zoo.families.autoclassmk.rbn import parse_rbn_name, read_rbn


def test_read_rbn_file():
    s = read_rbn(os.path.join(atlas_dir("libr18"), "t100l30p00.rbn"))
    assert len(s) == 1640 and s.medium == "air"
    assert s.angstrom[0] == 3800.0 and s.angstrom[-1] == 4619.5
    assert s.meta["spectral_type"] == "B3" and s.meta["luminosity_type"] == "III"
    # the reader flags the file's zero-flux pixels, nothing else
    assert s.mask[:7].all() and not s.mask[7:1600].any()
    # the input contract masks the 6 A (12 px) next to them as well, for files and arrays alike
    from zoo.registry import load_preset
    from zoo.preprocess import to_contract
    contract = load_preset("autoclassmk").input
    prep = to_contract(s.flux, contract, s.wavelength, mask=s.mask)
    assert prep.mask[0, :19].all() and not prep.mask[0, 19:].any()


def test_edge_guard_removes_smeared_padding():
    """libr18_27's first observed pixels ramp up from ~0 (padding smeared by its lower resolution)."""
    t = load_atlas("libr18_27", edge_guard=False)
    first = t.flux[np.arange(len(t)), np.argmax(~t.mask, axis=1)]
    assert (first < 0.2).sum() > 50
    g = load_atlas("libr18_27")
    first = g.flux[np.arange(len(g)), np.argmax(~g.mask, axis=1)]
    assert (first < 0.2).sum() <= 2    # as in libr18: spectra that start inside a deep line
    assert read(os.path.join(atlas_dir("libr18"), "t100l30p00.rbn")).flux.shape == (1640,)


def test_known_atlas_defect_is_repaired():
    s = read_rbn(os.path.join(atlas_dir("libr18"), "t030l50p00.rbn"))
    assert s.angstrom[0] == 3800.0 and "repaired" in s.meta


@pytest.mark.parametrize("name,sc,lc", [("t075l25p00.rbn", "B0.5", "II-III"), ("t317l00p00.rbn", "G4", "Ia"),
                                        ("t400l50p00.rbn", "K7", "V")])
def test_parse_name(name, sc, lc):
    d = parse_rbn_name(name)
    assert (d["spectral_type"], d["luminosity_type"]) == (sc, lc)


def test_parse_name_rejects_other_names():
    with pytest.raises(ValueError):
        parse_rbn_name("vega.rbn")


def test_relabel_three_classes():
    assert {k: LUMINOSITY_RELABEL[k] for k in ("Ia", "Ib", "II", "II-III", "III-IV", "IV", "V")} == {
        "Ia": "I", "Ib": "I", "II": "III", "II-III": "III", "III-IV": "III", "IV": "V", "V": "V"}


def test_atlas_pruning_counts():
    a = load_atlas("libr18")
    assert len(a) == 151 and a.flux.shape == (151, 1600)
    p = prune_complete(a)
    assert len(p) == 146 and len(p.spectral_classes) == 35
    assert sorted(set(a.spectral_type) - set(p.spectral_type)) == ["A2", "B0.5", "G4"]
    for sc in p.spectral_classes:
        assert set(p.luminosity_class[p.spectral_type == sc]) == {"I", "III", "V"}
    assert set(p.dropped) == {"t075l00p00.rbn", "t075l30p00.rbn", "t180l00p00.rbn", "t180l10p00.rbn",
                              "t317l00p00.rbn"}
    t = load_atlas("libr18_27")
    assert len(t) == 100 and int(np.isin(t.spectral_type, p.spectral_classes).sum()) == 98


def test_spectral_classes_in_mk_order():
    p = prune_complete(load_atlas("libr18"))
    assert p.spectral_classes[:3] == ["O4", "O5", "O6"] and p.spectral_classes[-1] == "K7"


def test_corrupt_and_unknown_files(tmp_path):
    bad = tmp_path / "t100l30p00.rbn"
    bad.write_text("3800.0 1.0\n3800.5 abc\n")
    with pytest.raises(CorruptFileError, match="t100l30p00"):
        read_rbn(bad)
    backwards = tmp_path / "back.rbn"
    backwards.write_text("3800.0 1.0\n3801.0 1.0\n3800.5 1.0\n3802.0 1.0\n")
    with pytest.raises(CorruptFileError, match="increasing"):
        read_rbn(backwards)
    binary = tmp_path / "x.dat"
    binary.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(UnsupportedFormatError):
        read(binary)
    with pytest.raises(SpectrumFileError):
        read(tmp_path / "missing.rbn")


def test_bundled_atlas_matches_source(shared_data):
    """The copies in zoo/data are the files of ../shared/data/mk_atlas, byte for byte."""
    for name in ("libr18", "libr18_27"):
        src = os.path.join(shared_data, "mk_atlas", name)
        for f in sorted(os.listdir(src)):
            with open(os.path.join(src, f), "rb") as a, open(os.path.join(atlas_dir(name), f), "rb") as b:
                assert a.read() == b.read(), f
