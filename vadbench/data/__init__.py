"""Dataset adapters, the frame and label readers they share, and the HDF5 clip cache."""
