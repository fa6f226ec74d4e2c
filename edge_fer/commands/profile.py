"""`edge-fer profile`: not implemented yet (see its issue)."""

from __future__ import annotations

import click

from edge_fer.errors import UserInputError


@click.command("profile", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args: tuple[str, ...]) -> None:
    """Not implemented yet."""
    raise UserInputError("'edge-fer profile' is not implemented yet")
