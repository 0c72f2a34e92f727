"""``python -m training.racnet``: see :mod:`training.racnet`."""
from training.racnet import main

main()
