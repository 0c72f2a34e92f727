"""Model families: one package per paper family, discovered by :mod:`zoo.registry`.

Each sub-package registers its models, presets, normalizations, demo and
trust method on import, imports only the core (never another family) and
never imports TensorFlow at import time.  See docs/contributing.md.
"""
