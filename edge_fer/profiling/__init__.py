"""Hardware profiles: time a model at many resolutions here, fit the curve, pick a size, and
read the profile back (show, check, `run --profile`). One module a job; none is imported
until a command needs it, so `edge-fer --help` loads no numpy."""
