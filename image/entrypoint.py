#!/venv/bin/python
"""``devd`` in devd's image: names the mounted project after the host's directory, then runs devd.

The project is bind-mounted at /src, so inside the container its directory is always called
``src`` and every project would be named "src" (the same container and image names for all).
Unless the project names itself (``DEVD_PROJECT``, or ``project`` in ``devd.toml`` or in
``[tool.devd]`` of ``pyproject.toml``), this sets ``DEVD_PROJECT`` to the last component of the
host directory the mount comes from, as ``/proc/self/mountinfo`` gives it. The image installs
this file as ``/venv/bin/devd``, so ``docker exec CONTAINER devd status`` names it the same way.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

MOUNTINFO = Path("/proc/self/mountinfo")
_ESCAPE = re.compile(r"\\([0-7]{3})")


def project_dir(argv: Sequence[str], cwd: Path) -> Path:
    """The directory devd will read: its ``-C DIR`` / ``--project-dir DIR``, else ``cwd``."""
    found: str | None = None
    args = iter(argv)
    for arg in args:
        if arg in ("-C", "--project-dir"):
            found = next(args, None)
        elif arg == "--log-format":
            next(args, None)
        elif arg.startswith("--project-dir="):
            found = arg.split("=", 1)[1]
        elif arg.startswith("-C"):
            found = arg[2:]
        elif not arg.startswith("-"):
            break  # the command: what follows are its own arguments
    return cwd / found if found else cwd


def names_itself(root: Path) -> bool:
    """Whether the project's own configuration sets ``project`` (devd.toml, else pyproject)."""
    try:
        if (root / "devd.toml").is_file():
            with (root / "devd.toml").open("rb") as handle:
                return "project" in tomllib.load(handle)
        if (root / "pyproject.toml").is_file():
            with (root / "pyproject.toml").open("rb") as handle:
                table = tomllib.load(handle).get("tool", {}).get("devd")
            return isinstance(table, dict) and "project" in table
    except (OSError, tomllib.TOMLDecodeError):
        return True  # let devd itself report the problem, with nothing added
    return False


def host_name(mountinfo: str, mount_point: str) -> str | None:
    """The last component of the host directory mounted at ``mount_point``, if one is."""
    name = None
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) > 4 and _unescape(fields[4]) == mount_point:
            # field 4 is the mounted directory inside its file system; the last mount wins
            name = PurePosixPath(_unescape(fields[3])).name or None
    return name


def _unescape(field: str) -> str:
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def default_project(argv: Sequence[str], environ: dict[str, str]) -> str | None:
    """The project name to give devd, or None when the project or the user already names it."""
    if "DEVD_PROJECT" in environ:
        return None
    root = project_dir(argv, Path.cwd())
    if names_itself(root):
        return None
    try:
        mountinfo = MOUNTINFO.read_text()
    except OSError:
        return None
    return host_name(mountinfo, os.path.realpath(root))


def main() -> int:
    name = default_project(sys.argv[1:], dict(os.environ))
    if name:
        os.environ["DEVD_PROJECT"] = name
    from devd.cli import main as devd_main

    return devd_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
