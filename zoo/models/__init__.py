"""Keras model factories, one module per paper family; shared blocks in :mod:`.layers`."""
