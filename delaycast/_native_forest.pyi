import numpy as np

from delaycast.compiled import Forest

class NativeForest:
    """A Forest's trees as one C array of nodes; `probability` scores one encoded feature vector, `probabilities`
    each row of an encoded matrix."""

    n_features: int

    def __init__(self, forest: Forest) -> None: ...
    def probability(self, features: list[float]) -> float:
        """Delay probability of one encoded feature vector (floats, NaN for missing)."""
    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Delay probability of each row of an encoded float64 matrix (any memory order; NaN for missing)."""
