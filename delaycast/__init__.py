"""delaycast: US flight-delay prediction, from DOT on-time CSVs to a SageMaker endpoint."""

__version__ = "0.1.0"
