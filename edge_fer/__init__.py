"""edge-fer: facial emotion recognition that runs on small devices."""

__version__ = "0.1.0"
