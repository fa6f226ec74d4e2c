"""Classifier runtimes (keras, tflite, openvino) behind one interface, chosen by key."""

from edge_fer.runtimes.base import Classifier, ModelInfo, load_classifier, runtime_for_path

__all__ = ["Classifier", "ModelInfo", "load_classifier", "runtime_for_path"]
