"""Names of the model's features, in the encoder's output order: shared by training and the compiled fast path."""

CATEGORICAL = ("carrier", "origin", "dest")
KEYS = ("route", "carrier_flight", "origin_hour", "carrier_origin")
NUMERIC = (
    "dep_minute",
    "arr_minute",
    "block_minutes",
    "distance",
    "day_of_week",
    "days_to_holiday",
    "origin_congestion",
    "origin_delay_rate_prev_day",
)
HOLIDAY_WINDOW_DAYS = 15
