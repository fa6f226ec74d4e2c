"""Classifier runtimes behind one interface, chosen by key (edge_fer.backends.RUNTIMES).

Device side: tflite and openvino need no TensorFlow; keras is the workstation's reference.
"""

from edge_fer.runtimes.base import Classifier, ModelInfo, load_classifier, runtime_for_path

__all__ = ["Classifier", "ModelInfo", "load_classifier", "runtime_for_path"]
