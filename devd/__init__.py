"""devd: a file-watcher dev daemon with smart rebuilds for projects that run in Docker."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("devd")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
