"""devd.dependency_exec: whether a dependency save is exec'd in the running container, and
exactly what runs — over realistic Dockerfiles, each unsafe shape declined with its reason."""

from __future__ import annotations

import pytest

from devd.config import CodeAction
from devd.core.classify import Kind, classify
from devd.core.dependency_exec import Declined, DependencyExec, decide, explained
from tests.test_classify import make_view

WHEELS = """\
FROM devd-python:3.11
WORKDIR /app
COPY wheels/ wheels/
COPY requirements.txt .
RUN pip install --no-index --find-links wheels/ -r requirements.txt
COPY app.py .
CMD ["python", "app.py"]
"""

HELLO = """\
ARG BASE=python:3.11-slim
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/venv/bin:$PATH
RUN python3 -m venv /venv
WORKDIR /app
RUN --mount=type=cache,target=/root/.cache/pip \\
    --mount=type=bind,source=requirements.txt,target=requirements.txt \\
    python -m pip install -r requirements.txt
COPY . .
CMD ["python", "-m", "app"]
"""

VENV_USER = """\
FROM devd-python:3.11
ARG INDEX=wheels/
RUN useradd -m app && mkdir /srv/app && chown app /srv/app
USER app
ENV VIRTUAL_ENV=/home/app/venv PATH=/home/app/venv/bin:$PATH PIP_NO_INDEX=1
RUN python3 -m venv $VIRTUAL_ENV
WORKDIR /srv/app
COPY --chown=app wheels/ wheels/
COPY --chown=app requirements.txt .
RUN pip install --find-links $INDEX -r requirements.txt
COPY app.py .
"""


def decision(
    dockerfile: str,
    *paths: str,
    code_action: CodeAction = "rebuild",
    target: str | None = None,
    build_args: dict[str, str] | None = None,
) -> DependencyExec | Declined:
    view = make_view(dockerfile, target=target, build_args=build_args)
    return decide([classify(path, view) for path in paths], view, code_action)


def declined(dockerfile: str, *paths: str, **options: object) -> str:
    found = decision(dockerfile, *paths, **options)  # type: ignore[arg-type]
    assert isinstance(found, Declined), found
    return found.reason


def test_a_copied_manifest_is_copied_to_its_destination_and_the_step_runs_as_written() -> None:
    """The COPY's destination gets the saved file (kept); the RUN's shell-form command runs
    through /bin/sh -c in its WORKDIR as the base image's user."""
    found = decision(WHEELS, "requirements.txt", "wheels/extra-1.0-py3-none-any.whl")
    assert isinstance(found, DependencyExec)
    assert found.argv == (
        "/bin/sh",
        "-c",
        "pip install --no-index --find-links wheels/ -r requirements.txt",
    )
    assert (found.workdir, found.user, found.line, found.base_image) == (
        "/app",
        None,
        5,
        "devd-python:3.11",
    )
    assert found.copies == (
        ("/app/requirements.txt", "requirements.txt"),
        ("/app/wheels/extra-1.0-py3-none-any.whl", "wheels/extra-1.0-py3-none-any.whl"),
    )
    assert found.mounts == ()
    assert found.removals() == ()


def test_a_bind_mounted_manifest_goes_to_the_target_under_workdir_and_a_later_copy_keeps_it() -> (
    None
):
    """docker init's shape: the bind mount's target is /app/requirements.txt, and COPY . .
    puts the same file there, so it stays after the exec; the PATH refers to the base
    image's and is expanded against it."""
    found = decision(HELLO, "requirements.txt", build_args={"BASE": "devd-python:3.11"})
    assert isinstance(found, DependencyExec)
    assert found.mounts == (("/app/requirements.txt", "requirements.txt"),)
    assert found.copies == (("/app/requirements.txt", "requirements.txt"),)
    assert found.removals() == ()
    assert found.base_image == "devd-python:3.11"
    env = found.environment({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    assert env == {
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PATH": "/venv/bin:/usr/bin:/bin",
    }


def test_a_bind_mount_no_copy_lands_on_is_removed_after_the_exec() -> None:
    """A mount target outside what COPY writes exists for the exec only."""
    dockerfile = """\
FROM devd-python:3.11
WORKDIR /app
RUN --mount=type=bind,source=requirements.txt,target=/tmp/req.txt pip install -r /tmp/req.txt
COPY app.py .
"""
    found = decision(dockerfile, "requirements.txt")
    assert isinstance(found, DependencyExec)
    assert found.mounts == (("/tmp/req.txt", "requirements.txt"),)
    assert found.copies == ()
    assert found.removals() == ("/tmp/req.txt",)


def test_user_workdir_env_and_args_are_the_steps_own() -> None:
    """USER, WORKDIR, ENV (chained onto the base image's PATH) and the ARG values devd
    builds with are what the step saw, not what the container ends with."""
    found = decision(VENV_USER, "requirements.txt", build_args={"INDEX": "/srv/app/wheels"})
    assert isinstance(found, DependencyExec)
    assert (found.user, found.workdir) == ("app", "/srv/app")
    assert found.argv[-1] == "pip install --find-links $INDEX -r requirements.txt"
    env = found.environment({"PATH": "/usr/bin"})
    assert env["INDEX"] == "/srv/app/wheels"
    assert env["PATH"] == "/home/app/venv/bin:/usr/bin"
    assert env["VIRTUAL_ENV"] == "/home/app/venv"
    assert env["PIP_NO_INDEX"] == "1"


def test_exec_form_and_shell_are_honoured() -> None:
    """A JSON-form RUN runs its argv as it is; SHELL changes what a shell form runs through."""
    exec_form = 'FROM x\nWORKDIR /a\nCOPY r.txt .\nRUN ["pip", "install", "-r", "r.txt"]\n'
    found = decision(exec_form, "r.txt")
    assert isinstance(found, DependencyExec)
    assert found.argv == ("pip", "install", "-r", "r.txt")
    shell = (
        'FROM x\nSHELL ["/bin/bash", "-eo", "pipefail", "-c"]\nCOPY r.txt .\n'
        "RUN pip install -r r.txt\n"
    )
    found = decision(shell, "r.txt")
    assert isinstance(found, DependencyExec)
    assert found.argv == ("/bin/bash", "-eo", "pipefail", "-c", "pip install -r r.txt")


@pytest.mark.parametrize(
    "command",
    [
        "pip install -r r.txt",
        "pip3 install --no-cache-dir -r r.txt",
        "python -m pip install -r r.txt && python3.11 -m pip check || true",
        "/venv/bin/pip install -r r.txt",
        "PIP_NO_INDEX=1 pip install -f ./wheels -r r.txt",
        "uv pip install --system -r r.txt",
        "uv sync --locked --no-install-project",
        "poetry install --no-root --no-interaction",
        "npm ci",
        "pip install -r r.txt; pip install -c constraints.txt flask",
    ],
)
def test_package_installs_are_exec_able_and_anything_else_is_not(command: str) -> None:
    """Allowed: package installs joined by && or ; (anything else in the line declines)."""
    dockerfile = f"FROM x\nWORKDIR /a\nCOPY r.txt .\nRUN {command}\n"
    found = decision(dockerfile, "r.txt")
    if "||" in command:
        assert isinstance(found, Declined)
        assert "'||'" in found.reason
    else:
        assert isinstance(found, DependencyExec), found


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (
            "pip install -r r.txt && rm -rf /var/lib/apt/lists/*",
            "`rm -rf /var/lib/apt/lists/*` writes outside the install locations",
        ),
        ("apt-get update && apt-get install -y gcc", "`apt-get update` writes outside"),
        ("pip install -r r.txt > /tmp/log", "uses '>'"),
        ("pip install -r r.txt | tee log", "uses '|'"),
        ("pip install $(cat r.txt)", "substitutes a command's output"),
        ("pip install .", "installs the local path ., which reads code"),
        ("pip install -e .[dev]", "installs an editable local path"),
        ("uv sync --locked", "installs the project itself"),
        ("poetry install", "installs the project itself"),
        ("python setup.py install", "`python setup.py install` writes outside"),
    ],
)
def test_a_step_that_writes_outside_install_locations_or_reads_code_declines(
    command: str, reason: str
) -> None:
    """Each unsafe command is named in the reason."""
    dockerfile = f"FROM x\nWORKDIR /a\nCOPY r.txt .\nRUN {command}\n"
    assert reason in declined(dockerfile, "r.txt")


@pytest.mark.parametrize("kind", ["secret", "ssh"])
def test_secret_and_ssh_mounts_decline(kind: str) -> None:
    dockerfile = f"FROM x\nCOPY r.txt .\nRUN --mount=type={kind},id=x pip install -r r.txt\n"
    assert declined(dockerfile, "r.txt") == f"it uses --mount=type={kind}"


def test_a_step_that_reads_the_whole_context_declines() -> None:
    """COPY . . before the install (or a bind mount of the context): code saves feed it too."""
    copy_all = "FROM x\nWORKDIR /a\nCOPY . .\nRUN pip install -r r.txt\n"
    assert declined(copy_all, "r.txt") == (
        "it reads the whole build context, code included, through Dockerfile:3 `COPY . .`"
    )
    mount_all = "FROM x\nWORKDIR /a\nRUN --mount=type=bind,target=/src pip install -r /src/r.txt\n"
    assert "through a bind mount" in declined(mount_all, "r.txt")


def test_a_step_in_another_stage_than_the_containers_declines() -> None:
    dockerfile = """\
FROM x AS deps
WORKDIR /a
COPY r.txt .
RUN pip install -r r.txt
FROM deps AS dev
COPY app.py .
"""
    assert declined(dockerfile, "r.txt") == (
        "Dockerfile:4 is in stage 'deps'; the container runs stage 'dev'"
    )


def test_a_save_that_reaches_the_step_through_another_stage_declines() -> None:
    dockerfile = """\
FROM x AS wheels
COPY wheels/ /wheels/
FROM x
COPY --from=wheels /wheels /wheels
RUN pip install /wheels/a.whl
"""
    assert declined(dockerfile, "wheels/a.whl").startswith("the save reaches Dockerfile:5")


def test_a_later_run_step_declines() -> None:
    """A rebuild re-runs every RUN after the install; exec re-runs one."""
    dockerfile = "FROM x\nCOPY r.txt .\nRUN pip install -r r.txt\nRUN python -m compileall .\n"
    assert declined(dockerfile, "r.txt") == (
        "Dockerfile:4 `RUN python -m compileall .` comes after it and would re-run too"
    )


def test_saves_feeding_different_run_steps_decline() -> None:
    dockerfile = (
        "FROM x\nCOPY a.txt .\nRUN pip install -r a.txt\nCOPY b.txt .\nRUN pip install -r b.txt\n"
    )
    assert declined(dockerfile, "a.txt", "b.txt") == (
        "the saves feed different RUN steps (Dockerfile:3 and Dockerfile:5); exec runs one"
    )


def test_a_dockerfile_save_in_the_batch_declines() -> None:
    assert declined(WHEELS, "requirements.txt", "Dockerfile") == "the Dockerfile changed too"


def test_code_in_the_batch_declines_under_code_action_rebuild_and_is_copied_under_sync() -> None:
    """A checkout that changes code and requirements: with sync the code is copied too."""
    assert declined(WHEELS, "requirements.txt", "app.py") == (
        "app.py changed too and code_action = rebuild"
    )
    found = decision(WHEELS, "requirements.txt", "app.py", code_action="sync")
    assert isinstance(found, DependencyExec)
    assert ("/app/app.py", "app.py") in found.copies


def test_heredocs_globbed_and_stage_bind_mounts_decline() -> None:
    heredoc = "FROM x\nCOPY r.txt .\nRUN <<EOF\npip install -r r.txt\nEOF\n"
    assert declined(heredoc, "r.txt") == "its command is a heredoc"
    staged = (
        "FROM x AS w\nFROM x\nCOPY r.txt .\n"
        "RUN --mount=from=w,source=/w,target=/w pip install -r r.txt\n"
    )
    assert "bind-mounts from 'w'" in declined(staged, "r.txt")


def test_add_declines_as_it_may_unpack() -> None:
    dockerfile = "FROM x\nADD deps.tar .\nRUN pip install -r r.txt\n"
    assert "ADD takes deps.tar" in declined(dockerfile, "deps.tar")


def test_ignored_only_batches_decline() -> None:
    assert declined(WHEELS, "README.md") == "no dependency change"


def test_explain_names_the_exact_command_or_why_not() -> None:
    """devd explain's row gains the command (and a JSON field) or the reason it declines."""
    view = make_view(WHEELS)
    row = explained(classify("requirements.txt", view), view, "rebuild")
    assert row.kind is Kind.DEPENDENCY
    assert row.exec_command == (
        "/bin/sh -c 'pip install --no-index --find-links wheels/ -r requirements.txt'"
    )
    assert "dependency_action = exec runs `/bin/sh -c 'pip install" in row.reason
    assert "in /app as the base image's user" in row.reason
    unsafe = make_view("FROM x\nCOPY r.txt .\nRUN pip install -r r.txt && rm -rf /tmp/x\n")
    row = explained(classify("r.txt", unsafe), unsafe, "rebuild")
    assert row.exec_command is None
    assert "dependency_action = exec declines, so a save rebuilds: `rm -rf /tmp/x`" in row.reason
