"""Experiments whose numbers docs/ quotes: results files in, Markdown blocks out (evaluation.render)."""
