"""Allows `python -m edge_fer`."""

from edge_fer.cli import main

main()
