# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""One validated record scored in C: its features (`NativePipeline`), then the boosted trees (`NativeForest`).

A request for one flight spends microseconds here instead of tens in Python: features are written
straight into a C array, and the trees are one array of 32-byte nodes, one node read per level.
The features are those of the pipeline's encoder (`CompiledPipeline.encode` builds the same for a
batch); the tree decisions and the summation order are those of `Node.goes_left` and
`Forest.probabilities` (scikit-learn's), so the answers are the same doubles.
"""

from libc.math cimport NAN, exp, floor, fmod, isnan
from libc.stdint cimport int32_t, uint32_t
from libc.stdlib cimport free, malloc

cdef enum:
    CATEGORY_WORDS = 8  # 256 categories, 32 per word: HistGradientBoosting's bitset layout
    MAX_FEATURES = 64
    PIPELINE_FEATURES = 15  # the encoder's output columns (delaycast.feature_names)


cdef struct Node:
    double value  # the leaf value, else the numeric threshold
    int32_t feature  # -1 for a leaf
    int32_t left
    int32_t right
    int32_t categories  # index of this split's bitset of codes that go left, -1 for a numeric split
    bint missing_left


cdef class NativeForest:
    """A Forest's trees as one C array of nodes; `probability` scores one encoded feature vector."""

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
        return 1.0 / (1.0 + exp(-self._raw_score(x)))

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
        """Node.goes_left: a missing value, or a category unknown in training, goes where training sent
        missing values."""
        cdef int code
        if isnan(value):
            return node.missing_left
        if node.categories < 0:
            return value <= node.value
        if value < 0 or value > 255:
            return node.missing_left
        code = <int>value
        return (self._categories[node.categories * CATEGORY_WORDS + (code >> 5)] >> (code & 31)) & 1


cdef class NativePipeline:
    """The compiled pipeline's tables and trees: `probability` scores one validated record (FIELDS order)."""

    cdef NativeForest _forest
    cdef dict _carriers, _origins, _dests, _routes, _flights, _hours, _pairs, _route_distance, _congestion
    cdef double _route_default, _flight_default, _hour_default, _pair_default
    cdef long* _holidays
    cdef Py_ssize_t _holiday_count
    cdef long _window

    def __cinit__(
        self, category_codes, target_tables, dict route_distance, dict origin_congestion, holidays,
        long holiday_window, NativeForest forest
    ):
        if forest.n_features != PIPELINE_FEATURES:
            raise ValueError(f"the forest takes {forest.n_features} features, the pipeline makes {PIPELINE_FEATURES}")
        if not holidays:
            raise ValueError("no holidays")
        self._carriers, self._origins, self._dests = category_codes
        (self._routes, self._route_default), (self._flights, self._flight_default), \
            (self._hours, self._hour_default), (self._pairs, self._pair_default) = target_tables
        self._route_distance = route_distance
        self._congestion = origin_congestion
        self._window = holiday_window
        self._forest = forest
        self._holiday_count = len(holidays)
        self._holidays = <long*>malloc(self._holiday_count * sizeof(long))
        if self._holidays == NULL:
            raise MemoryError()
        for i, ordinal in enumerate(sorted(holidays)):
            self._holidays[i] = ordinal

    def __dealloc__(self):
        free(self._holidays)

    def probability(self, tuple record) -> float:
        """Delay probability of one validated record (FIELDS order)."""
        carrier, flight, origin, dest, day, dep_time, arr_time, distance, context = record
        cdef double x[PIPELINE_FEATURES]
        cdef double dep = _minutes(dep_time)
        cdef double arr = _minutes(arr_time)
        if isnan(dep):
            raise ValueError("a record needs its departure time")
        cdef long hour = <long>floor(dep / 60)
        cdef long ordinal = day.toordinal()
        cdef long weekday = (ordinal + 6) % 7  # date.weekday()
        route = f"{origin}-{dest}"
        x[0] = self._carriers.get(carrier, NAN)
        x[1] = self._origins.get(origin, NAN)
        x[2] = self._dests.get(dest, NAN)
        x[3] = self._routes.get(route, self._route_default)
        x[4] = self._flights.get(f"{carrier}{flight}", self._flight_default)
        x[5] = self._hours.get(f"{origin}|{hour}", self._hour_default)
        x[6] = self._pairs.get(f"{carrier}|{origin}", self._pair_default)
        x[7] = dep
        x[8] = arr
        x[9] = _python_mod(arr - dep, 1440)
        x[10] = _number(distance, self._route_distance.get(route, NAN))
        x[11] = weekday
        x[12] = self._days_to_holiday(ordinal)
        x[13] = self._congestion.get(f"{origin}|{weekday}|{hour}", NAN)
        x[14] = _number(context, NAN)
        return 1.0 / (1.0 + exp(-self._forest._raw_score(x)))

    def days_to_holiday(self, day) -> float:
        """Signed days from `day` to the nearest holiday (negative after it), clipped to the window."""
        return self._days_to_holiday(day.toordinal())

    cdef double _days_to_holiday(self, long ordinal) noexcept:
        cdef Py_ssize_t low = 0
        cdef Py_ssize_t high = self._holiday_count
        cdef Py_ssize_t middle
        while low < high:  # bisect_left
            middle = (low + high) // 2
            if self._holidays[middle] < ordinal:
                low = middle + 1
            else:
                high = middle
        cdef long next_gap = self._holidays[min(low, self._holiday_count - 1)] - ordinal
        cdef long prev_gap = ordinal - self._holidays[max(low - 1, 0)]
        cdef long gap = next_gap if next_gap < prev_gap else -prev_gap
        return max(-self._window, min(self._window, gap))


cdef inline double _number(value, double default):
    """A number field's value, `default` when absent."""
    return default if value is None else <double>value


cdef inline double _minutes(hhmm):
    """Minutes past midnight of an HHMM time (NaN when absent)."""
    cdef double value = _number(hhmm, NAN)
    return floor(value / 100) * 60 + _python_mod(value, 100)


cdef inline double _python_mod(double value, double divisor) noexcept:
    """Python's float `%` for a positive divisor: the result takes the divisor's sign."""
    cdef double rest = fmod(value, divisor)
    if rest < 0:
        rest += divisor
    return rest + 0.0  # -0.0 becomes 0.0, as in Python
