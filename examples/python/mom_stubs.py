"""Puts the generated stubs on the import path: `MOM_STUBS_DIR` when set, else ./generated
(made by generate_stubs.py)."""

import os
import pathlib
import sys


def add_to_path() -> None:
    """Adds the stubs directory to sys.path; exits with a clear message when it is missing."""
    default = pathlib.Path(__file__).resolve().parent / "generated"
    directory = pathlib.Path(os.environ.get("MOM_STUBS_DIR") or default)
    if not (directory / "mom").is_dir():
        sys.exit(f"error: no generated stubs in {directory}: run `python generate_stubs.py` "
                 "(or set MOM_STUBS_DIR to where you generated them)")
    sys.path.insert(0, str(directory))
