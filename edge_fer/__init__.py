"""edge-fer: facial emotion recognition that runs on small devices.

This package is what a device installs and runs (no TensorFlow): the CLI, runtimes, detectors,
sources, sinks, the camera loop and profiling. Training (training.py, model.py, augment.py)
is the workstation's and loads TensorFlow only when called; exporting lives in `converters`.
docs/architecture.md draws the line module by module.
"""

__version__ = "0.1.0"
