"""The smaller defects a new user met (issue "What a new user hit"), one test each."""
import os


import zoo
from zoo.__main__ import main


def test_spectrum_is_public_and_readers_give_it():
    s = zoo.io.read(zoo.example_files("lamost/*.fits")[0])
    assert isinstance(s, zoo.Spectrum) and "Spectrum" in zoo.__all__


def test_scale_extra_hint_works_from_a_clone():
    from zoo.batch import SCALE_EXTRA
    assert 'pip install -e ".[scale]"' in SCALE_EXTRA and "stellar-spectra-zoo[scale]" in SCALE_EXTRA


def test_table_header_has_units_and_no_uncertainty_is_faster_path(capsys):
    f = zoo.example_files("apogee/apStar-*.fits")[0]
    assert main(["predict", "starnet", f, "--no-progress"]) == 0
    head = capsys.readouterr().out.splitlines()[0].split()
    assert "teff" in head and "[K]" in head and "teff_std" in head and "[dex]" in head
    assert main(["predict", "starnet", f, "--no-progress", "--no-uncertainty"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert "teff [K]" in head and "_std" not in head
    assert main(["predict", "racnet_ds2", zoo.example_files("lamost/*.fits")[0], "--uncertainty"]) == 2
    assert "classifier" in capsys.readouterr().err


def test_instrument_flag_for_files(capsys):
    """AutoClassMK reads rectified flux: a flux-calibrated LAMOST file is refused as it is and
    classified with --instrument flux_calibrated (the contract's mk_rectify step)."""
    f = [x for x in zoo.example_files("lamost/*.fits") if "55939" in x][0]
    assert main(["predict", "autoclassmk", f, "--no-progress"]) == 1
    assert "UnphysicalFluxError" in capsys.readouterr().err
    assert main(["predict", "autoclassmk", f, "--no-progress", "--instrument", "flux_calibrated"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and os.path.basename(f) in out[1]
    m = zoo.load_model("autoclassmk")
    assert m.predict(f, instrument="flux_calibrated")["spectral_class"][0] == out[1].split()[1]


def test_demo_runs_every_trained_model(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for name in zoo.list_models():
        from zoo.hub import local_dir
        if local_dir(name) and name.split("_")[0] in ("racnet", "emission", "apogeenet", "starnet", "autoclassmk"):
            assert f"[{name}, onnx]" in out, name
