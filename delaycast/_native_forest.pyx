# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The boosted trees in C (`NativeForest`): one encoded feature vector, or every row of an encoded matrix.

The trees are one array of 32-byte nodes, one node read per level; a batch is scored row by row without
the GIL, each row copied once into a contiguous vector and walked through every tree by the same
`_raw_score` as a single record. Decisions and summation order are scikit-learn's (HistGradientBoosting's
predictor: numeric thresholds, category bitsets, missing values where training sent them; leaf values
added to the baseline in tree order), so the answers are the same doubles up to the final logistic.
The features themselves are computed in Python (`delaycast.features`).
"""

import numpy

from libc.math cimport exp, isnan
from libc.stdint cimport int32_t, uint32_t
from libc.stdlib cimport free, malloc

cdef enum:
    CATEGORY_WORDS = 8  # 256 categories, 32 per word: HistGradientBoosting's bitset layout
    MAX_FEATURES = 64


cdef struct Node:
    double value  # the leaf value, else the numeric threshold
    int32_t feature  # -1 for a leaf
    int32_t left
    int32_t right
    int32_t categories  # index of this split's bitset of codes that go left, -1 for a numeric split
    bint missing_left


cdef class NativeForest:
    """A Forest's trees as one C array of nodes; `probability` scores one encoded feature vector, `probabilities`
    each row of an encoded matrix."""

    cdef Node* _nodes
    cdef uint32_t* _categories
    cdef int32_t* _roots
    cdef int _trees
    cdef readonly int n_features
    cdef double _baseline

    def __cinit__(self, forest):
        if not 0 < forest.n_features <= MAX_FEATURES:
            raise ValueError(f"{forest.n_features} features: the native forest takes 1 to {MAX_FEATURES}")
        trees = forest.trees
        node_count = sum(len(tree.nodes) for tree in trees)
        split_count = sum(node.left_categories is not None for tree in trees for node in tree.nodes)
        self._nodes = <Node*>malloc(node_count * sizeof(Node))
        self._categories = <uint32_t*>malloc(max(1, split_count) * CATEGORY_WORDS * sizeof(uint32_t))
        self._roots = <int32_t*>malloc(max(1, len(trees)) * sizeof(int32_t))
        if self._nodes == NULL or self._categories == NULL or self._roots == NULL:
            raise MemoryError()
        self._trees = len(trees)
        self.n_features = forest.n_features
        self._baseline = forest.baseline
        cdef int base = 0
        cdef int split = 0
        for t, tree in enumerate(trees):
            self._roots[t] = base
            for i, node in enumerate(tree.nodes):
                split = self._add(base + i, base, node, split)
            base += len(tree.nodes)

    cdef int _add(self, int index, int base, node, int split) except -1:
        cdef Node* out = &self._nodes[index]
        out.value = node.value if node.leaf else node.threshold
        out.feature = -1 if node.leaf else node.feature
        if not node.leaf and not 0 <= node.feature < self.n_features:
            raise ValueError(f"node {index} splits on feature {node.feature} of {self.n_features}")
        out.left = base + node.left
        out.right = base + node.right
        out.missing_left = node.missing_left
        out.categories = -1
        if node.leaf or node.left_categories is None:
            return split
        out.categories = split
        cdef uint32_t* words = &self._categories[split * CATEGORY_WORDS]
        cdef int code
        for code in range(CATEGORY_WORDS):
            words[code] = 0
        for code in range(256):
            # a code unknown in training is missing: it goes where missing values go
            if node.left_categories[code] if node.known_categories[code] else node.missing_left:
                words[code >> 5] |= 1u << (code & 31)
        return split + 1

    def __dealloc__(self):
        free(self._nodes)
        free(self._categories)
        free(self._roots)

    def probability(self, list features) -> float:
        """Delay probability of one encoded feature vector (floats, NaN for missing)."""
        if len(features) != self.n_features:
            raise ValueError(f"{len(features)} features, expected {self.n_features}")
        cdef double x[MAX_FEATURES]
        cdef int i
        for i in range(self.n_features):
            x[i] = features[i]
        return _logistic(self._raw_score(x))

    def probabilities(self, const double[:, :] features):
        """Delay probability of each row of an encoded float64 matrix (any memory order; NaN for missing)."""
        if features.shape[1] != self.n_features:
            raise ValueError(f"{features.shape[1]} features, expected {self.n_features}")
        answers = numpy.empty(features.shape[0], dtype=numpy.float64)
        cdef double[::1] out = answers
        cdef double x[MAX_FEATURES]
        cdef Py_ssize_t row
        cdef int i
        with nogil:
            for row in range(features.shape[0]):
                for i in range(self.n_features):
                    x[i] = features[row, i]
                out[row] = _logistic(self._raw_score(x))
        return answers

    cdef double _raw_score(self, const double* x) noexcept nogil:
        """Baseline plus each tree's leaf, added in tree order."""
        cdef double total = self._baseline
        cdef const Node* node
        cdef int tree
        for tree in range(self._trees):
            node = &self._nodes[self._roots[tree]]
            while node.feature >= 0:
                node = &self._nodes[node.left if self._goes_left(node, x[node.feature]) else node.right]
            total += node.value
        return total

    cdef inline bint _goes_left(self, const Node* node, double value) noexcept nogil:
        """Whether a value takes the left branch: a missing value, or a category unknown in training (or not a
        code 0..255), goes where training sent missing values."""
        cdef int code
        if isnan(value):
            return node.missing_left
        if node.categories < 0:
            return value <= node.value
        if value < 0 or value > 255:
            return node.missing_left
        code = <int>value
        return (self._categories[node.categories * CATEGORY_WORDS + (code >> 5)] >> (code & 31)) & 1


cdef inline double _logistic(double raw) noexcept nogil:
    return 1.0 / (1.0 + exp(-raw))
