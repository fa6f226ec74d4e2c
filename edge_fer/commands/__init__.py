"""One module per `edge-fer` subcommand; each exposes `command`."""
