"""The exact Faust and aiokafka versions duanka runs on, checked when a worker starts.

duanka reaches into both (every module of this package): what it relies on is not their
public API, and another version may behave differently without failing any import.
`pyproject.toml` pins the same versions; a worker refuses to start on others.
"""

from importlib import metadata

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
"""Distribution name -> the version duanka was built and tested against."""


def mismatches() -> list[str]:
    """One line per pinned distribution installed at another version, or not at all."""
    found = []
    for name, wanted in PINNED.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != wanted:
            found.append(f"{name} {installed or 'is not installed'}, duanka needs {wanted}")
    return found
