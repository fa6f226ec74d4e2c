"""Workstation-side exporters: Keras -> TFLite and OpenVINO IR (need edge-fer[convert])."""
