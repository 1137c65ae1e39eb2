"""The one place meshform's version is written (read by packaging and the status annotation)."""

__version__ = "0.1.0"
