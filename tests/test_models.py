"""Every registered model builds, runs forward and has its documented parameter count."""
import numpy as np
import pytest

import zoo
from zoo.errors import UnknownModelError

#: documented parameter counts (docs/<model>.md and the card's architecture line)
EXPECTED_PARAMS = {
    "autoclassmk": 1_445_350,          # 1600-768-256-64, heads 35 + 3
    "autoclassmk_kerasinit": 1_445_350,
    "autoclassmk_broad": 1_445_350,
    # Appendix B: 12 convs (32,424) + Dense 8512x512, 512x512, 512x3
    "apogeenet": 4_655_275,
    # Fabbro et al. 2018: Conv1D(4, 8) 36 + Conv1D(16, 8) 528, MaxPool 4 (8575 -> 2143),
    # Dense 2143*16 -> 256 (8,777,984), 256 -> 128 (32,896), 128 -> 3 (387)
    "starnet": 8_811_831,
}


def test_registry_lists_models():
    names = zoo.list_models()
    assert "autoclassmk" in names and names == sorted(names)
    with pytest.raises(UnknownModelError, match="known models"):
        zoo.create_model("nope")


@pytest.mark.parametrize("name", zoo.list_models())
def test_build_forward_and_count(name):
    model = zoo.create_model(name)
    card = zoo.get_card(name, trained=False)
    if name in EXPECTED_PARAMS:          # other families hold their counts in their own test file
        assert model.count_params() == EXPECTED_PARAMS[name]
    n = card.input.n_pixels
    assert model.input_shape == (None, n)
    out = model.predict_on_batch(np.ones((2, n), np.float32))
    assert set(out) == set(card.output_names)
    for o in card.outputs:
        width = len(o.classes) if o.kind == "class" else len(o.labels)
        assert out[o.name].shape == (2, width)
        assert np.isfinite(out[o.name]).all()
        if o.kind == "class":
            np.testing.assert_allclose(out[o.name].sum(1), 1.0, rtol=1e-5)


def test_autoclassmk_table3_layers_and_init():
    m = zoo.create_model("autoclassmk", seed=0)
    dense = [l for l in m.layers if l.__class__.__name__ == "Dense"]
    assert [l.units for l in dense][:3] == [768, 256, 64] and sorted(l.units for l in dense[3:]) == [3, 35]
    w = dense[0].kernel.numpy()
    assert w.std() == pytest.approx(0.1, rel=0.02) and abs(w.mean()) < 2e-3   # N(0, 0.1), Sec. III.4
    assert np.all(dense[0].bias.numpy() == 0)
    g = zoo.create_model("autoclassmk_kerasinit", seed=0)
    limit = np.sqrt(6 / (1600 + 768))                                          # Glorot uniform
    assert np.abs(g.layers[1].kernel.numpy()).max() <= limit


def test_gelu_is_tanh_approximation():
    from zoo.layers import GELU
    x = np.linspace(-4, 4, 101).astype(np.float32)
    ref = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))   # Eq. 5
    np.testing.assert_allclose(np.asarray(GELU()(x)), ref, atol=1e-6)
