"""Every pluggable backend by role, one line each: the single place to add a runtime, detector,
frame source, architecture or latency fit. The CLI's choices and help, the loaders, file-suffix lookup and
version reporting all read these tables. Nothing here is imported until its key is chosen.
"""

from __future__ import annotations

from edge_fer.registry import Backend, Registry

RUNTIMES = Registry(
    "runtime",
    Backend("keras", "edge_fer.runtimes.keras_runtime:KerasClassifier", "TensorFlow", "train",
            (".keras", ".h5"), ("tensorflow", "tensorflow-cpu")),
    Backend("tflite", "edge_fer.runtimes.tflite_runtime:TFLiteClassifier", "LiteRT", "tflite",
            (".tflite",), ("ai-edge-litert", "tflite-runtime", "tensorflow", "tensorflow-cpu")),
    Backend("openvino", "edge_fer.runtimes.openvino_runtime:OpenVINOClassifier", "Intel OpenVINO",
            "openvino", (".xml",), ("openvino",)),
)

DETECTORS = Registry(
    "detector",
    Backend("haar", "edge_fer.detectors.haar:HaarDetector", "OpenCV, light"),
    Backend("yunet", "edge_fer.detectors.yunet:YuNetDetector", "OpenCV DNN, eye landmarks"),
    Backend("mtcnn", "edge_fer.detectors.mtcnn:MTCNNDetector", "TensorFlow", "mtcnn"),
)

# Which one reads a --source string is decided by edge_fer.sources.source_key.
SOURCES = Registry(
    "source",
    Backend("opencv", "edge_fer.sources.opencv:OpenCVSource", "V4L2, files, RTSP/HTTP"),
    Backend("picamera2", "edge_fer.sources.picamera2:Picamera2Source", "Raspberry Pi camera",
            "picamera"),
)

# Where records go; run opens the log itself (edge_fer.sinks.open_log) and mqtt by --mqtt.
SINKS = Registry(
    "sink",
    Backend("jsonl", "edge_fer.sinks.jsonl:JsonLinesFile", "a size-rotated file"),
    Backend("stdout", "edge_fer.sinks.jsonl:JsonLinesStdout", "journald under systemd"),
    Backend("mqtt", "edge_fer.sinks.mqtt:MqttSink", "an MQTT broker", "mqtt"),
)

# Networks `edge-fer train` builds and `edge-fer profile --arch` times (keras.applications).
ARCHS = Registry(
    "architecture",
    *(Backend(key, f"keras.applications:{name}", extra="train") for key, name in (
        ("efficientnetv2-b0", "EfficientNetV2B0"),
        ("efficientnetv2-b1", "EfficientNetV2B1"),
        ("efficientnetv2-b2", "EfficientNetV2B2"),
        ("efficientnetv2-b3", "EfficientNetV2B3"),
        ("efficientnetv2-s", "EfficientNetV2S"),
    )),
)
# 16 keeps the last stage at twice the spatial size (dilated); 32 is the network as published.
OUTPUT_STRIDES = (32, 16)

# Latency-vs-resolution fits a profile may use (edge_fer.profiling.fits); the sweep tries each.
FITS = Registry(
    "fit",
    Backend("lagrange", "edge_fer.profiling.fits:LAGRANGE",
            "Lagrange interpolant through every point, as in the paper", "profile"),
    Backend("poly2", "edge_fer.profiling.fits:POLY2",
            "least-squares quadratic in r (relative error)", "profile"),
    Backend("pchip", "edge_fer.profiling.fits:PCHIP",
            "monotone piecewise cubic (PCHIP) through an isotonic fit", "profile"),
)
