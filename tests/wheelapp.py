"""A Python app whose dependencies are small local wheels, installed with no index: what the
dependency-exec tests and bench/'s ``dependency-exec`` mode build on devd-python:3.11.

Each package ``pkgNN`` is a minimal pure-Python wheel the test writes itself (the module,
METADATA, WHEEL and RECORD in a zip). The app imports every package its requirements.txt
names and serves their names on port 8000, so what it serves says what it could import.

The tests' wheels are tiny (pip installs 30 in about a second). The bench's carry ``modules``
generated modules of about ``module_bytes`` each besides ``__init__.py`` (which imports them,
as a real package's does), so that installing them costs what installing real packages does:
see bench/README.md for the sizes chosen and why.
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


def write_wheel(
    directory: Path, name: str, marker: str = "", modules: int = 0, module_bytes: int = 0
) -> Path:
    """A pure-Python wheel of ``name`` 1.0 in ``directory``: its ``__init__.py`` (holding
    ``marker``, importing the ``modules`` generated modules of about ``module_bytes`` each),
    METADATA, WHEEL and RECORD."""
    info = f"{name}-1.0.dist-info"
    submodules = [f"mod{number:02d}" for number in range(modules)]
    init = f"VALUE = {name!r}\nMARKER = {marker!r}\n"
    if submodules:
        init += f"from . import {', '.join(submodules)}  # noqa: F401\n"
    files = {
        f"{name}/__init__.py": init,
        **{
            f"{name}/{module}.py": module_source(name, module, module_bytes)
            for module in submodules
        },
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
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


# One block of a generated module: a class and functions of the shapes library code has, so
# that pip's bytecode compilation and the app's imports cost what real code of that size does.
_BLOCK = '''

_TABLE_{n} = {table!r}


class Record{n}:
    """A keyed value with tags, as a library's small data classes are."""

    __slots__ = ("key", "value", "tags")

    def __init__(self, key, value=None, *, tags=()):
        self.key = key
        self.value = value
        self.tags = tuple(tags)

    def __repr__(self):
        return f"Record{n}({{self.key!r}}, {{self.value!r}}, tags={{self.tags!r}})"

    def merge(self, other):
        if other.key != self.key:
            raise ValueError(f"cannot merge {{self.key!r}} with {{other.key!r}}")
        return Record{n}(self.key, other.value or self.value, tags=self.tags + other.tags)


def parse_{n}(text, separator="{sep}"):
    """Split ``text`` into records: one ``key{sep}value`` per line, ``#`` comments."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, found, value = line.partition(separator)
        if not found:
            raise ValueError(f"line {{number}}: no {{separator!r}} in {{line!r}}")
        records.append(Record{n}(key.strip(), value.strip() or None))
    return records


def summarize_{n}(records, limit={limit}):
    counts = {{}}
    for record in records:
        counts[record.key] = counts.get(record.key, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [f"{{key}}: {{count}}" for key, count in ranked[:limit]]
'''


def module_source(package: str, module: str, size: int) -> str:
    """Python source of about ``size`` bytes (at least a docstring): generated blocks of
    classes and functions."""
    source = f'"""{package}.{module}: generated library code (tests/wheelapp.py)."""\n'
    number = 0
    while len(source) < size:
        seed = hashlib.sha256(f"{package}.{module}.{number}".encode()).hexdigest()
        table = tuple(seed[i : i + 8] for i in range(0, 64, 8))  # data: real code has some
        source += _BLOCK.format(n=number, sep=":=|"[number % 3], limit=5 + number % 7, table=table)
        number += 1
    return source


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_app(
    root: Path,
    packages: int,
    marker: str,
    dockerfile: str = ROOT_DOCKERFILE,
    install: str = INSTALL,
    modules: int = 0,
    module_bytes: int = 0,
) -> None:
    """The app with ``packages`` wheels, all required (``marker`` makes its wheels and build
    cache its own; ``modules`` and ``module_bytes``: see :func:`write_wheel`)."""
    (root / "Dockerfile").write_text(dockerfile.format(install=install))
    (root / ".dockerignore").write_text("devd.toml\n")
    (root / "app.py").write_text(APP)
    for index in range(packages):
        write_wheel(root / "wheels", package(index), marker, modules, module_bytes)
    requirements = "".join(f"{package(i)}\n" for i in range(packages))
    (root / "requirements.txt").write_text(requirements)


def add_package(
    root: Path, index: int, marker: str, modules: int = 0, module_bytes: int = 0
) -> None:
    """A new wheel, then the requirement on it: the save that asks for an install."""
    write_wheel(root / "wheels", package(index), marker, modules, module_bytes)
    with (root / "requirements.txt").open("a") as handle:
        handle.write(f"{package(index)}\n")
