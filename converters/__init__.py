"""Workstation side: exporters Keras -> TFLite and OpenVINO IR (need edge-fer[convert]).

A device never imports this package: it reads what these write (manifest.json and the exports).
Kept at the repository's top level; installed (and imported) as `edge_fer.converters`:
edge_fer/converters links here, so a clone and a wheel agree.
"""
