"""devd.classify: what a change to one path means for a service, over realistic Dockerfiles.

Each test builds the service's BuildView from Dockerfile and ignore-file text (pure) or, for
the ignore-file selection, from a project on disk under tmp_path.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from devd import config
from devd.core.classify import BuildView, Classification, Kind, classify, normalise, strongest
from devd.core.dockerfile import parse
from devd.core.ignore import IgnoreRules, parse_patterns
from devd.project import build_view

with (config.shipped_config_dir() / "defaults.toml").open("rb") as _handle:
    SHIPPED_IGNORE = tuple(tomllib.load(_handle)["ignore"])


def make_view(
    dockerfile: str,
    ignore: str = "",
    *,
    target: str | None = None,
    build_args: dict[str, str] | None = None,
    context: str = "",
    dockerfile_path: str | None = None,
    ignore_file: str | None = None,
    unused_ignore_file: str | None = None,
    watch_ignore: tuple[str, ...] = SHIPPED_IGNORE,
) -> BuildView:
    prefix = f"{context}/" if context else ""
    dockerfile_path = dockerfile_path or f"{prefix}Dockerfile"
    return BuildView(
        service="app",
        context=context,
        dockerfile_path=dockerfile_path,
        dockerfile=parse(dockerfile, dockerfile_path, build_args),
        target=target,
        ignore_file=ignore_file or f"{prefix}.dockerignore",
        ignore_rules=IgnoreRules(parse_patterns(ignore)),
        watch_ignore=IgnoreRules(watch_ignore),
        unused_ignore_file=unused_ignore_file,
    )


def kinds(view: BuildView, *paths: str) -> dict[str, str]:
    return {path: str(classify(path, view).kind) for path in paths}


# --- realistic Python Dockerfiles ------------------------------------------------------------

PIP = """\
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
CMD ["python", "-m", "app"]
"""


def test_pip_requirements_is_a_dependency_change() -> None:
    """requirements.txt feeds the COPY before ``RUN pip install``: a dependency change."""
    result = classify("requirements.txt", make_view(PIP))
    assert result.kind is Kind.DEPENDENCY
    assert (result.line, result.instruction) == (4, "COPY requirements.txt .")
    assert (result.run_line, result.run_instruction) == (
        5,
        "RUN pip install --no-cache-dir -r requirements.txt",
    )
    assert "Dockerfile:4 `COPY requirements.txt .`" in result.reason
    assert "Dockerfile:5 `RUN pip install --no-cache-dir -r requirements.txt` re-runs" in (
        result.reason
    )


def test_pip_code_is_a_code_change_landing_in_the_workdir() -> None:
    """A source file only reaches ``COPY . .`` after the last RUN: a code change, with where it
    lands in the image."""
    result = classify("app/views.py", make_view(PIP))
    assert result.kind is Kind.CODE
    assert result.line == 6
    assert result.destination == "/app/app/views.py"
    assert "Dockerfile:6 `COPY . .`" in result.reason
    assert "/app/app/views.py" in result.reason


def test_pip_new_file_is_code_too() -> None:
    """A path that does not exist yet is classified the same way (COPY . . would pick it up)."""
    assert classify("app/new_module.py", make_view(PIP)).kind is Kind.CODE


def test_dockerfile_change() -> None:
    """The service's Dockerfile is the build definition: kind ``dockerfile``."""
    result = classify("Dockerfile", make_view(PIP))
    assert result.kind is Kind.DOCKERFILE
    assert "Dockerfile" in result.reason


def test_dockerignore_change_is_a_dockerfile_change() -> None:
    """The ignore file that applies changes what the engine sees: kind ``dockerfile``."""
    assert classify(".dockerignore", make_view(PIP, "*.md\n")).kind is Kind.DOCKERFILE


POETRY = """\
FROM python:3.12-slim
RUN pip install poetry==1.8.3
WORKDIR /code
COPY pyproject.toml poetry.lock ./
RUN poetry config virtualenvs.create false \\
 && poetry install --no-root --no-interaction
COPY src/ ./src/
"""


def test_poetry() -> None:
    """pyproject.toml and poetry.lock are dependencies; src/ is code; README is not read."""
    view = make_view(POETRY)
    assert kinds(view, "pyproject.toml", "poetry.lock", "src/pkg/api.py", "README.md") == {
        "pyproject.toml": "dependency",
        "poetry.lock": "dependency",
        "src/pkg/api.py": "code",
        "README.md": "ignored",
    }
    lock = classify("poetry.lock", view)
    assert lock.run_line == 5
    assert lock.run_instruction is not None
    assert lock.run_instruction.startswith("RUN poetry config virtualenvs.create false")
    assert classify("src/pkg/api.py", view).destination == "/code/src/pkg/api.py"
    assert "read by no COPY/ADD" in classify("README.md", view).reason


UV_COPY = """\
FROM python:3.12-slim
COPY --from=ghcr.io/astral-sh/uv:latest /uv /bin/uv
WORKDIR /app
COPY uv.lock pyproject.toml ./
RUN uv sync --frozen --no-install-project
COPY . .
"""

UV_MOUNT = """\
# syntax=docker/dockerfile:1
FROM python:3.12-slim
COPY --from=ghcr.io/astral-sh/uv:latest /uv /bin/uv
WORKDIR /app
RUN --mount=type=cache,target=/root/.cache/uv \\
    --mount=type=bind,source=uv.lock,target=uv.lock \\
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \\
    uv sync --frozen --no-install-project
COPY app/ ./app/
"""


def test_uv_with_copied_lock_file() -> None:
    """uv.lock and pyproject.toml copied before ``RUN uv sync`` are dependencies."""
    view = make_view(UV_COPY)
    assert kinds(view, "uv.lock", "pyproject.toml", "app/main.py") == {
        "uv.lock": "dependency",
        "pyproject.toml": "dependency",
        "app/main.py": "code",
    }


def test_uv_with_bind_mounted_lock_file() -> None:
    """``RUN --mount=type=bind,source=uv.lock`` reads uv.lock: the RUN itself is what changes."""
    view = make_view(UV_MOUNT)
    lock = classify("uv.lock", view)
    assert lock.kind is Kind.DEPENDENCY
    assert lock.line == 5
    assert lock.run_line == 5
    assert lock.reason.count("Dockerfile:5") == 1, lock.reason  # the line is named once
    assert lock.reason.endswith("through a bind mount; the step re-runs")
    assert classify("pyproject.toml", view).kind is Kind.DEPENDENCY
    assert classify("app/main.py", view).kind is Kind.CODE
    assert classify("README.md", view).kind is Kind.IGNORED


PIP_TOOLS = """\
FROM python:3.12-slim
RUN pip install pip-tools
WORKDIR /srv
COPY requirements.in requirements.txt ./
RUN pip-sync requirements.txt
COPY service/ service/
"""


def test_pip_tools() -> None:
    """Both requirements.in and the compiled requirements.txt feed ``RUN pip-sync``."""
    view = make_view(PIP_TOOLS)
    assert kinds(view, "requirements.in", "requirements.txt", "service/handler.py") == {
        "requirements.in": "dependency",
        "requirements.txt": "dependency",
        "service/handler.py": "code",
    }
    assert classify("service/handler.py", view).destination == "/srv/service/handler.py"


WHEELS = """\
FROM python:3.12 AS Builder
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --wheel-dir /wheels -r requirements.txt

FROM python:3.12 AS Docs
COPY docs/ /docs/
RUN pip install mkdocs && mkdocs build -d /site

FROM python:3.12-slim AS Runtime
COPY --from=builder /wheels /wheels
RUN pip install --no-index /wheels/*
WORKDIR /app
COPY src/ ./src/
CMD ["python", "-m", "src"]
"""


def test_multi_stage_wheels_requirements_is_dependency() -> None:
    """requirements.txt feeds the builder's ``RUN pip wheel``; the final stage copies the
    wheels and re-runs ``pip install``: a dependency change."""
    result = classify("requirements.txt", make_view(WHEELS))
    assert result.kind is Kind.DEPENDENCY
    assert (result.line, result.run_line) == (3, 4)


def test_multi_stage_wheels_final_code_is_code() -> None:
    """Code copied only in the final stage, after its RUN, is a code change."""
    result = classify("src/main.py", make_view(WHEELS))
    assert result.kind is Kind.CODE
    assert result.line == 14
    assert result.destination == "/app/src/main.py"


def test_multi_stage_file_of_an_unneeded_stage_is_ignored() -> None:
    """docs/ is only read by a stage the target does not need: ignored, whatever the case of
    the target's name."""
    for target in (None, "runtime", "RUNTIME", "Runtime"):
        result = classify("docs/index.md", make_view(WHEELS, target=target))
        assert result.kind is Kind.IGNORED, target
        assert "read by no COPY/ADD" in result.reason


def test_multi_stage_target_selects_the_stage() -> None:
    """With ``target = "Docs"`` docs/ matters and the runtime's code does not."""
    view = make_view(WHEELS, target="Docs")
    assert kinds(view, "docs/index.md", "src/main.py", "requirements.txt") == {
        "docs/index.md": "dependency",
        "src/main.py": "ignored",
        "requirements.txt": "ignored",
    }


def test_copy_from_stage_index() -> None:
    """``COPY --from=0`` makes stage 0 needed, so its inputs count."""
    view = make_view(
        "FROM python AS deps\nCOPY req.txt .\nRUN pip wheel -r req.txt -w /w\n"
        "FROM python\nCOPY --from=0 /w /w\nRUN pip install /w/*\nCOPY app.py /app/\n"
    )
    assert kinds(view, "req.txt", "app.py") == {"req.txt": "dependency", "app.py": "code"}


def test_run_mount_from_a_builder_stage_makes_it_needed() -> None:
    """``RUN --mount=type=bind,from=builder,...`` depends on the builder stage like
    ``COPY --from``: its inputs are dependencies of the final image."""
    view = make_view(
        "FROM python AS builder\nCOPY requirements.txt .\n"
        "RUN pip wheel -r requirements.txt -w /wheels\n"
        "FROM python:3.12-slim\n"
        "RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \\\n"
        "    pip install /wheels/*\n"
        "COPY app.py /app/\n"
    )
    result = classify("requirements.txt", view)
    assert result.kind is Kind.DEPENDENCY
    assert result.line == 2
    assert classify("app.py", view).kind is Kind.CODE


def test_from_stage_inherits_env_and_workdir_for_destinations() -> None:
    """A stage built ``FROM`` another keeps its ENV and WORKDIR: destinations use them."""
    view = make_view(
        "FROM python AS base\nENV APP_HOME=/srv/app\nWORKDIR $APP_HOME\n"
        "RUN pip install flask\n"
        "FROM base AS dev\nCOPY app.py .\nCOPY conf/ ${APP_HOME}/conf/\n"
    )
    assert classify("app.py", view).destination == "/srv/app/app.py"
    assert classify("conf/dev.ini", view).destination == "/srv/app/conf/dev.ini"


def test_change_to_a_base_stage_input_reaches_the_derived_stage() -> None:
    """A file read by a stage that the final stage is built FROM, before a RUN there, is a
    dependency of the final image."""
    view = make_view(
        "FROM python AS base\nCOPY constraints.txt /c.txt\n"
        "FROM base\nRUN pip install -c /c.txt flask\n"
    )
    result = classify("constraints.txt", view)
    assert result.kind is Kind.DEPENDENCY
    assert (result.line, result.run_line) == (2, 4)


def test_compile_step_after_code_copy_makes_code_a_dependency() -> None:
    """``COPY src/`` followed by ``RUN python -m compileall`` re-runs a build command."""
    view = make_view(
        "FROM python\nWORKDIR /app\nCOPY src/ ./src/\nRUN python -m compileall -q src\n"
        'CMD ["python", "src/main.py"]\n'
    )
    result = classify("src/main.py", view)
    assert result.kind is Kind.DEPENDENCY
    assert result.run_instruction == "RUN python -m compileall -q src"
    assert result.destination is None


# --- globs, ADD, heredocs, flags, forms ------------------------------------------------------


def test_glob_sources() -> None:
    """``COPY *.txt ./`` before a RUN reads top-level .txt files only; ``src/*.py`` reads one
    level; character classes pick their members."""
    view = make_view(
        "FROM python\nWORKDIR /app\nCOPY *.txt ./\nRUN pip install -r requirements.txt\n"
        "COPY src/*.py ./src/\nCOPY conf/[a-m]*.ini /etc/app/\n"
    )
    assert kinds(
        view,
        "requirements.txt",
        "requirements-dev.txt",
        "docs/notes.txt",
        "src/main.py",
        "src/pkg/mod.py",
        "conf/app.ini",
        "conf/zeta.ini",
    ) == {
        "requirements.txt": "dependency",
        "requirements-dev.txt": "dependency",
        "docs/notes.txt": "ignored",
        "src/main.py": "code",
        "src/pkg/mod.py": "ignored",
        "conf/app.ini": "code",
        "conf/zeta.ini": "ignored",
    }
    assert classify("src/main.py", view).destination == "/app/src/main.py"
    assert classify("conf/app.ini", view).destination == "/etc/app/app.ini"


def test_add_local_file_url_and_tarball() -> None:
    """ADD of a local path is read like COPY; a URL reads nothing from the context. A file
    ADD names may be a tar archive that gets unpacked (decided by its content), so devd claims
    no landing path for it; files under an ADDed directory land as with COPY."""
    view = make_view(
        "FROM python\nADD https://example.com/install.sh /tmp/install.sh\n"
        "ADD vendor.tar.gz /opt/vendor/\nADD conf/app.ini /etc/app.ini\n"
        "ADD static/ /srv/static/\n"
    )
    assert classify("install.sh", view).kind is Kind.IGNORED
    tarball = classify("vendor.tar.gz", view)
    assert tarball.kind is Kind.CODE
    assert tarball.line == 3
    assert tarball.destination is None
    conf = classify("conf/app.ini", view)
    assert conf.kind is Kind.CODE
    assert conf.destination is None
    assert classify("static/css/site.css", view).destination == "/srv/static/css/site.css"


def test_heredoc_copy_reads_no_context() -> None:
    """``COPY <<EOF /etc/motd`` reads no context file, not even one called EOF."""
    view = make_view("FROM python\nCOPY <<EOF /etc/motd\nwelcome\nEOF\nRUN cat /etc/motd\n")
    for path in ("EOF", "motd", "etc/motd"):
        assert classify(path, view).kind is Kind.IGNORED, path


def test_workdir_chain_gives_absolute_destinations() -> None:
    """Relative WORKDIRs chain; the landing path is absolute."""
    view = make_view("FROM python\nWORKDIR /srv\nWORKDIR app\nWORKDIR ./web\nCOPY site.py .\n")
    assert classify("site.py", view).destination == "/srv/app/web/site.py"


def test_arg_substitution_with_default_and_build_arg_override() -> None:
    """``COPY ${REQS:-requirements.txt}`` reads the default, or the build arg when given."""
    text = (
        "FROM python\nARG REQS\nARG APP_DIR=/app\nWORKDIR ${APP_DIR}\n"
        "COPY ${REQS:-requirements.txt} ./\nRUN pip install -r ${REQS:-requirements.txt}\n"
        "COPY . .\n"
    )
    default = make_view(text)
    assert kinds(default, "requirements.txt", "requirements-dev.txt") == {
        "requirements.txt": "dependency",
        "requirements-dev.txt": "code",
    }
    dev = make_view(text, build_args={"REQS": "requirements-dev.txt", "APP_DIR": "/opt/x"})
    assert kinds(dev, "requirements.txt", "requirements-dev.txt") == {
        "requirements.txt": "code",
        "requirements-dev.txt": "dependency",
    }
    assert classify("main.py", dev).destination == "/opt/x/main.py"


def test_copy_exclude() -> None:
    """``COPY --exclude=*.md --exclude=tests . .`` does not read top-level Markdown or tests/,
    but does read Markdown deeper down (``*`` stays in one component)."""
    view = make_view(
        "# syntax=docker/dockerfile:1.7-labs\nFROM python\nWORKDIR /app\n"
        "COPY --exclude=*.md --exclude=tests . .\n"
    )
    assert kinds(view, "README.md", "tests/test_app.py", "docs/guide.md", "app.py") == {
        "README.md": "ignored",
        "tests/test_app.py": "ignored",
        "docs/guide.md": "code",
        "app.py": "code",
    }


def test_chown_and_chmod_do_not_change_the_classification() -> None:
    """``--chown``/``--chmod`` flags do not change what a COPY reads or where it lands."""
    view = make_view(
        "FROM python\nCOPY --chown=app:app --chmod=0644 requirements.txt /app/\n"
        "RUN pip install -r /app/requirements.txt\nCOPY --chown=1000:1000 . /app/\n"
    )
    assert classify("requirements.txt", view).kind is Kind.DEPENDENCY
    assert classify("app.py", view).destination == "/app/app.py"


def test_json_form_with_spaces() -> None:
    """JSON-form COPY with spaces in paths reads and lands those exact paths."""
    view = make_view('FROM python\nCOPY ["my notes/read me.txt", "/opt/my docs/"]\n')
    result = classify("my notes/read me.txt", view)
    assert result.kind is Kind.CODE
    assert result.destination == "/opt/my docs/read me.txt"


def test_line_continuations_comments_and_escape_directive_keep_line_numbers() -> None:
    """The reason names the line where the instruction starts, despite continuations,
    comments and an ``# escape=``` directive."""
    view = make_view(
        "# escape=`\n"
        "FROM python\n"
        "# install dependencies first\n"
        "COPY requirements.txt `\n"
        "     constraints.txt `\n"
        "     /tmp/\n"
        "RUN pip install `\n"
        "    -r /tmp/requirements.txt -c /tmp/constraints.txt\n"
    )
    result = classify("constraints.txt", view)
    assert result.kind is Kind.DEPENDENCY
    assert result.line == 4
    assert result.instruction == "COPY requirements.txt constraints.txt /tmp/"
    assert result.run_line == 7
    assert "Dockerfile:4 `COPY requirements.txt constraints.txt /tmp/`" in result.reason
    assert "Dockerfile:7 `RUN pip install -r /tmp/requirements.txt -c /tmp/constraints.txt`" in (
        result.reason
    )


# --- ignore rules ----------------------------------------------------------------------------


def test_dockerignore_excluded_path_is_ignored_with_the_pattern() -> None:
    """A path the .dockerignore excludes is never sent: ignored, naming file and pattern."""
    result = classify("notes/todo.md", make_view(PIP, "notes/\n*.md\n"))
    assert result.kind is Kind.IGNORED
    assert result.pattern == "notes/"
    assert ".dockerignore" in result.reason
    assert "'notes/'" in result.reason


def test_negated_and_double_star_ignore_patterns() -> None:
    """``**/__pycache__`` excludes caches anywhere; ``!`` re-includes a file inside an
    excluded directory, which COPY then reads."""
    ignore = "**/__pycache__\ndocs\n!docs/openapi.yaml\n"
    view = make_view(PIP, ignore, watch_ignore=())
    assert kinds(view, "app/__pycache__/x.pyc", "docs/guide.md", "docs/openapi.yaml") == {
        "app/__pycache__/x.pyc": "ignored",
        "docs/guide.md": "ignored",
        "docs/openapi.yaml": "code",
    }
    assert classify("app/__pycache__/x.pyc", view).pattern == "**/__pycache__"


def test_trailing_slash_directory_pattern() -> None:
    """``build/`` excludes the build directory and its whole subtree."""
    result = classify("build/lib/app.py", make_view(PIP, "build/\n"))
    assert result.kind is Kind.IGNORED
    assert result.pattern == "build/"


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("app/.views.py.swp", "**/.*.sw[a-px]"),
        ("app/4913", "**/4913"),
        ("app/views.py___jb_tmp___", "**/*___jb_tmp___"),
        (".git/index", "**/.git"),
        ("app/__pycache__/views.cpython-312.pyc", "**/__pycache__"),
    ],
)
def test_devd_ignore_list(path: str, pattern: str) -> None:
    """Editor temporaries, VCS data and bytecode are ignored by devd's own list, even though
    ``COPY . .`` would read them."""
    result = classify(path, make_view(PIP))
    assert result.kind is Kind.IGNORED
    assert result.pattern == pattern
    assert "devd's ignore list" in result.reason


def test_dockerfile_specific_ignore_file_replaces_dockerignore() -> None:
    """With ``Dockerfile.dockerignore`` in use, it is the definition and ``.dockerignore`` is
    not used."""
    view = make_view(
        PIP,
        "*.md\n",
        ignore_file="Dockerfile.dockerignore",
        unused_ignore_file=".dockerignore",
    )
    assert classify("Dockerfile.dockerignore", view).kind is Kind.DOCKERFILE
    unused = classify(".dockerignore", view)
    assert unused.kind is Kind.IGNORED
    assert "not used" in unused.reason
    excluded = classify("README.md", view)
    assert excluded.kind is Kind.IGNORED
    assert "Dockerfile.dockerignore" in excluded.reason


def test_creating_a_dockerfile_specific_ignore_file_is_a_dockerfile_change() -> None:
    """``<Dockerfile>.dockerignore`` appearing changes what applies, even before it exists."""
    assert classify("Dockerfile.dockerignore", make_view(PIP)).kind is Kind.DOCKERFILE


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_build_view_picks_the_dockerfile_specific_ignore_file(tmp_path: Path) -> None:
    """On disk, ``<Dockerfile>.dockerignore`` applies instead of the context's .dockerignore."""
    _write(
        tmp_path,
        {
            "docker/api.Dockerfile": PIP,
            "docker/api.Dockerfile.dockerignore": "secret.txt\n",
            ".dockerignore": "*.md\n",
            "devd.toml": '[services.api]\ndockerfile = "docker/api.Dockerfile"\n',
        },
    )
    project = config.load(tmp_path, environ={})
    view = build_view(project, project.services["api"])
    assert view.ignore_file == "docker/api.Dockerfile.dockerignore"
    assert view.unused_ignore_file == ".dockerignore"
    assert classify("secret.txt", view).kind is Kind.IGNORED
    assert classify("README.md", view).kind is Kind.CODE
    assert classify(".dockerignore", view).kind is Kind.IGNORED
    assert classify("docker/api.Dockerfile", view).kind is Kind.DOCKERFILE


def test_build_view_without_a_specific_ignore_file_uses_the_context_one(tmp_path: Path) -> None:
    """Without ``<Dockerfile>.dockerignore`` the context's .dockerignore applies."""
    _write(tmp_path, {"Dockerfile": PIP, ".dockerignore": "*.md\n"})
    project = config.load(tmp_path, environ={})
    view = build_view(project, project.services["app"])
    assert view.ignore_file == ".dockerignore"
    assert view.unused_ignore_file is None
    assert classify("README.md", view).kind is Kind.IGNORED


# --- contexts and paths ----------------------------------------------------------------------


def test_path_outside_the_context_is_ignored() -> None:
    """With context ``api``, a file of another directory is never sent to the engine."""
    view = make_view("FROM python\nCOPY . /app\n", context="api")
    outside = classify("web/index.js", view)
    assert outside.kind is Kind.IGNORED
    assert "outside the build context api/" in outside.reason
    inside = classify("api/main.py", view)
    assert inside.kind is Kind.CODE
    assert inside.destination == "/app/main.py"


def test_path_above_the_project_is_outside_the_context() -> None:
    """A path leading out of the project root is outside any context inside it."""
    assert classify("../elsewhere/file.py", make_view(PIP)).kind is Kind.IGNORED


def test_context_relative_ignore_file_and_dockerfile() -> None:
    """With context ``api`` the Dockerfile and ignore file live there and are definitions."""
    view = make_view(PIP, "*.log\n", context="api")
    assert classify("api/Dockerfile", view).kind is Kind.DOCKERFILE
    assert classify("api/.dockerignore", view).kind is Kind.DOCKERFILE
    assert classify("api/debug.log", view).kind is Kind.IGNORED
    assert classify("Dockerfile", view).kind is Kind.IGNORED


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("./app.py", "app.py"), ("src//pkg/./m.py", "src/pkg/m.py"), ("src\\win.py", "src/win.py")],
)
def test_paths_are_normalised(raw: str, clean: str) -> None:
    """``./``, doubled slashes and backslashes do not change the answer."""
    assert normalise(raw) == clean
    assert classify(raw, make_view(PIP)).path == clean


# --- results ---------------------------------------------------------------------------------


def test_kinds_are_ordered_and_a_batch_takes_its_strongest() -> None:
    """dockerfile > dependency > code > ignored; an empty batch is ignored."""
    assert strongest([Kind.CODE, Kind.IGNORED, Kind.DEPENDENCY]) is Kind.DEPENDENCY
    assert strongest([Kind.CODE, Kind.DOCKERFILE]) is Kind.DOCKERFILE
    assert strongest([]) is Kind.IGNORED
    assert [str(k) for k in Kind] == ["ignored", "code", "dependency", "dockerfile"]


def test_as_dict_drops_empty_fields_and_names_the_kind() -> None:
    """``as_dict`` gives the kind as text and leaves out fields with no value."""
    data = classify("app.py", make_view(PIP)).as_dict()
    assert data["kind"] == "code"
    assert data["service"] == "app"
    assert data["destination"] == "/app/app.py"
    assert "run_line" not in data
    assert "pattern" not in data


def test_classification_is_a_value() -> None:
    """Classifying twice gives equal, hashable results."""
    view = make_view(PIP)
    first: Classification = classify("requirements.txt", view)
    assert first == classify("requirements.txt", view)
    assert hash(first) == hash(classify("requirements.txt", view))


def test_subtree_ignored_prunes_only_trees_nothing_under_can_matter() -> None:
    """A directory is prunable when the ignore file or devd's list excludes it whole, or it
    lies outside the context; never when a `!` pattern reaches in, or it holds the Dockerfile
    or the ignore file."""
    from devd.core.classify import subtree_ignored

    view = make_view(
        "FROM x\nCOPY . /app\n",
        "node_modules\ndocs\n!docs/keep.md\n",
        context="svc",
        dockerfile_path="build/Dockerfile",
    )
    assert subtree_ignored("svc/node_modules", view)
    assert subtree_ignored("svc/node_modules/a/b", view)
    assert subtree_ignored("svc/.git", view)  # devd's own list: **/.git
    assert subtree_ignored("other", view)  # outside the context
    assert not subtree_ignored("svc/docs", view)  # !docs/keep.md reaches in
    assert not subtree_ignored("svc/src", view)
    assert not subtree_ignored("svc", view)
    assert not subtree_ignored("build", view)  # holds the Dockerfile


def test_excludes_tree_follows_the_context_walk() -> None:
    """IgnoreRules.excludes_tree: excluded ancestors count; a re-include keeps the tree."""
    rules = IgnoreRules(["node_modules", "**/.cache", "docs", "!docs/keep.md"])
    assert rules.excludes_tree("node_modules")
    assert rules.excludes_tree("node_modules/pkg/lib")
    assert rules.excludes_tree("a/b/.cache")
    assert not rules.excludes_tree("docs")
    assert not rules.excludes_tree("src")


def test_copy_from_an_absolute_path_carries_a_change_through_to_the_run_after_it() -> None:
    """``COPY --from=stage /abs`` is read as the stage's /abs (not ``//abs``, which matched
    nothing): a change there re-runs the RUN after the copy."""
    view = make_view(
        "FROM x AS w\nCOPY wheels/ /wheels/\nFROM x\nCOPY --from=w /wheels /wheels\n"
        "RUN pip install -r /wheels/r.txt\n"
    )
    found = classify("wheels/a.whl", view)
    assert (found.kind, found.run_line) == (Kind.DEPENDENCY, 5)
