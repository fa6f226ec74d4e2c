"""The tests' clip writer: a re-export of `edge_fer.synthetic` (one implementation for the
tests, the benchmark and users)."""

from edge_fer.synthetic import (
    FRAME_SIZE,
    Placement,
    background,
    compose,
    face_clip,
    face_patch,
    fer_faces,
    write_clip,
)

__all__ = ["FRAME_SIZE", "Placement", "background", "compose", "face_clip", "face_patch",
           "fer_faces", "write_clip"]
