"""A Python app whose dependencies are small local wheels, installed with no index: what the
dependency-exec tests and bench/'s ``dependency-exec`` mode build on devd-python:3.11.

Each package ``pkgNN`` is a minimal pure-Python wheel the test writes itself (the module,
METADATA, WHEEL and RECORD in a zip). The app imports every package its requirements.txt
names and serves their names on port 8000, so what it serves says what it could import.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

PYTHON_IMAGE = "devd-python:3.11"

ROOT_DOCKERFILE = """\
FROM devd-python:3.11
ENV PYTHONUNBUFFERED=1 PATH=/venv/bin:$PATH
RUN python3 -m venv /venv
WORKDIR /app
COPY wheels/ wheels/
COPY requirements.txt .
RUN {install}
COPY app.py .
CMD ["python", "app.py"]
"""
INSTALL = "pip install --no-index --find-links wheels/ -r requirements.txt"

# A non-root USER with a venv it owns; pip finds the wheels through an ARG (PIP_FIND_LINKS is
# pip's own variable), so the ARG values, the ENV PATH, the USER and the WORKDIR all count.
USER_DOCKERFILE = """\
FROM devd-python:3.11
RUN useradd -m app
USER app
ENV PYTHONUNBUFFERED=1 VIRTUAL_ENV=/home/app/venv PATH=/home/app/venv/bin:$PATH
RUN python3 -m venv $VIRTUAL_ENV
WORKDIR /home/app/src
COPY --chown=app wheels/ wheels/
COPY --chown=app requirements.txt .
ARG PIP_FIND_LINKS
RUN pip install --no-index -r requirements.txt
COPY app.py .
CMD ["python", "app.py"]
"""

APP = """\
import http.server, importlib, os, pwd

names = [line.split("=")[0].strip() for line in open("requirements.txt") if line.strip()]
modules = [importlib.import_module(name) for name in names]
page = "imported " + " ".join(m.__name__ for m in modules) + "\\n"
page += f"user {pwd.getpwuid(os.getuid()).pw_name} cwd {os.getcwd()}\\n"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(page.encode())

    def log_message(self, *args):
        pass


print("serving", len(modules), "packages", flush=True)
http.server.ThreadingHTTPServer(("", 8000), Handler).serve_forever()
"""


def package(index: int) -> str:
    return f"pkg{index:02d}"


def write_wheel(directory: Path, name: str, marker: str = "") -> Path:
    """A minimal pure-Python wheel of ``name`` 1.0 in ``directory``: its module (holding
    ``marker``), METADATA, WHEEL and RECORD."""
    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": f"VALUE = {name!r}\nMARKER = {marker!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: devd-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [
        f"{path},sha256={_digest(text.encode())},{len(text.encode())}"
        for path, text in files.items()
    ]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_app(
    root: Path,
    packages: int,
    marker: str,
    dockerfile: str = ROOT_DOCKERFILE,
    install: str = INSTALL,
) -> None:
    """The app with ``packages`` wheels, all required (``marker`` makes its wheels and build
    cache its own)."""
    (root / "Dockerfile").write_text(dockerfile.format(install=install))
    (root / ".dockerignore").write_text("devd.toml\n")
    (root / "app.py").write_text(APP)
    for index in range(packages):
        write_wheel(root / "wheels", package(index), marker)
    requirements = "".join(f"{package(i)}\n" for i in range(packages))
    (root / "requirements.txt").write_text(requirements)


def add_package(root: Path, index: int, marker: str) -> None:
    """A new wheel, then the requirement on it: the save that asks for an install."""
    write_wheel(root / "wheels", package(index), marker)
    with (root / "requirements.txt").open("a") as handle:
        handle.write(f"{package(index)}\n")
