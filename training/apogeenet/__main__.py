"""``python -m training.apogeenet``: see :mod:`training.apogeenet`."""
from training.apogeenet import ApogeeNet
from training.skeleton import main

main(ApogeeNet)
