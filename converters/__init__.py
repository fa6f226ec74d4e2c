"""Workstation side: exporters Keras -> TFLite and OpenVINO IR (need edge-fer[convert]).

A device never imports this package: it reads what these write (manifest.json and the exports).
"""
