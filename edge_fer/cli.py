"""The `edge-fer` command line: a thin click group; each subcommand lives in edge_fer/commands/.

Nothing heavy is imported here or by the commands' modules: `edge-fer --help` must start fast
on a Raspberry Pi (tests/test_cli_imports.py checks that no numpy, cv2, scipy or TensorFlow loads).
"""

from __future__ import annotations

import logging
from typing import Any

import click

from edge_fer import __version__
from edge_fer.errors import EdgeFerError
from edge_fer.options import add_verbose_option, verbosity_level


class EdgeFerGroup(click.Group):
    """Turns edge-fer's own errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeFerError as e:
            click.echo(f"edge-fer: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("edge-fer: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=EdgeFerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edge-fer")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Facial emotion recognition for small devices: train, evaluate, convert, profile, run."""
    click.get_current_context().meta["edge_fer.verbose"] = verbose
    logging.basicConfig(level=verbosity_level(verbose),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from edge_fer.commands import bundle, convert, evaluate, profile, run, train

    for module in (train, evaluate, convert, profile, run, bundle):
        add_verbose_option(module.command)  # -v after the command name works too
        cli.add_command(module.command)


_register()


def main() -> None:
    cli(prog_name="edge-fer")
