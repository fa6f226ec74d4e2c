"""Deployable bundles: a folder a device installs edge-fer, a model and its service from."""
