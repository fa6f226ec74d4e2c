"""One module per `edge-fer` subcommand; each exposes `command`.

Thin on purpose: options in, one settings object, one call into the library. Module level
imports only click and the light tables (edge_fer.backends, edge_fer.options), so
`edge-fer --help` loads no numpy, cv2 or TensorFlow.
"""
