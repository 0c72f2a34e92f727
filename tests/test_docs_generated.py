"""Every generated block of docs/ equals its rendering from the committed results (evaluation.render)."""
import pytest

from evaluation import render


def test_generated_blocks_match_their_results():
    assert render.check() == []


def test_a_drifted_number_is_caught():
    text = "x\n<!-- BEGIN generated:finetune_cv -->\nhand-edited 0.99\n<!-- END generated:finetune_cv -->\n"
    out = render.render_text(text)
    assert "hand-edited" not in out and out.startswith("x\n<!-- BEGIN generated:finetune_cv -->\n| model |")
    with pytest.raises(KeyError, match="unknown generated block"):
        render.render_text("<!-- BEGIN generated:nope -->\n<!-- END generated:nope -->")
