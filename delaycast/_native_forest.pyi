import datetime as dt

from delaycast.compiled import Forest
from delaycast.records import Record

class NativeForest:
    """A Forest's trees as one C array of nodes; `probability` scores one encoded feature vector."""

    n_features: int

    def __init__(self, forest: Forest) -> None: ...
    def probability(self, features: list[float]) -> float:
        """Delay probability of one encoded feature vector (floats, NaN for missing)."""

class NativePipeline:
    """The compiled pipeline's tables and trees: `probability` scores one validated record (FIELDS order)."""

    def __init__(
        self,
        category_codes: tuple[dict[str, float], ...],
        target_tables: tuple[tuple[dict[str, float], float], ...],
        route_distance: dict[str, float],
        origin_congestion: dict[str, float],
        holidays: list[int],
        holiday_window: int,
        forest: NativeForest,
    ) -> None: ...
    def probability(self, record: Record) -> float:
        """Delay probability of one validated record (FIELDS order)."""
    def days_to_holiday(self, day: dt.date) -> float:
        """Signed days from `day` to the nearest holiday (negative after it), clipped to the window."""
