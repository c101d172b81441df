"""devd.dockerfile: stages, steps, context sources and destinations of realistic Dockerfiles."""

from __future__ import annotations

import pytest

from devd.core.dockerfile import ContextSource, Dockerfile, Scope, Step, parse
from devd.errors import DockerfileError


def steps(dockerfile: Dockerfile, keyword: str, stage: int = -1) -> list[Step]:
    return [step for step in dockerfile.stages[stage].steps if step.keyword == keyword]


def copies(
    text: str, build_args: dict[str, str] | None = None
) -> list[tuple[tuple[str, ...], str | None]]:
    """(source patterns, destination) of each COPY/ADD of the last stage."""
    model = parse(text, "Dockerfile", build_args)
    return [
        (tuple(s.pattern for s in step.sources), step.destination)
        for step in model.stages[-1].steps
        if step.keyword in ("COPY", "ADD")
    ]


# --- structure -------------------------------------------------------------------------------


def test_single_stage_pip_dockerfile() -> None:
    """A classic pip Dockerfile is one unnamed stage whose COPY steps read the context."""
    model = parse(
        "FROM python:3.12-slim\n"
        "WORKDIR /app\n"
        "COPY requirements.txt .\n"
        "RUN pip install -r requirements.txt\n"
        "COPY . .\n"
        'CMD ["python", "app.py"]\n'
    )
    assert len(model.stages) == 1
    stage = model.stages[0]
    assert stage.name is None
    assert stage.label == "0"
    assert stage.base == "python:3.12-slim"
    assert [s.keyword for s in stage.steps] == ["FROM", "WORKDIR", "COPY", "RUN", "COPY", "CMD"]
    first, second = steps(model, "COPY")
    assert first.sources == (ContextSource("requirements.txt"),)
    assert first.destination == "/app/"
    assert second.sources == (ContextSource(""),)
    assert second.destination == "/app/"


def test_instruction_keeps_line_numbers_and_text() -> None:
    """Each step records its first and last line and its text as written."""
    model = parse("FROM python\n\n# deps\nRUN pip install \\\n    flask \\\n    gunicorn\n")
    run = steps(model, "RUN")[0]
    assert (run.instruction.line, run.instruction.end_line) == (4, 6)
    assert run.instruction.display == "RUN pip install flask gunicorn"


def test_lowercase_instructions_are_accepted() -> None:
    """Instructions are case-insensitive; the model uses upper-case keywords."""
    model = parse("from python as Builder\nrun echo hi\ncopy a.txt /a.txt\n")
    assert [s.keyword for s in model.stages[0].steps] == ["FROM", "RUN", "COPY"]
    assert model.stages[0].name == "builder"


def test_stage_names_are_case_insensitive() -> None:
    """``FROM x AS Builder`` is found as ``builder``, ``BUILDER`` or ``Builder``."""
    model = parse("FROM python AS Builder\nRUN true\nFROM python AS Final\nRUN true\n")
    assert model.stage("builder").index == 0
    assert model.stage("BUILDER").index == 0
    assert model.stage("Final").index == 1
    assert model.stages[0].label == "builder"


def test_from_a_previous_stage_links_the_stages() -> None:
    """``FROM base`` (any case) names an earlier stage; ``FROM python`` names an image."""
    model = parse("FROM python AS Base\nRUN true\nFROM BASE AS dev\nRUN true\n")
    assert model.stages[0].base_stage is None
    assert model.stages[1].base_stage == 0
    assert model.stages[1].depends_on == frozenset({0})


def test_copy_from_name_and_index() -> None:
    """``COPY --from=builder`` and ``COPY --from=0`` refer to stages; an image is no stage."""
    model = parse(
        "FROM python AS builder\nRUN pip wheel -w /wheels .\n"
        "FROM python\n"
        "COPY --from=Builder /wheels /wheels\n"
        "COPY --from=0 /etc/x /etc/x\n"
        "COPY --from=nginx:latest /etc/nginx/nginx.conf /etc/nginx.conf\n"
    )
    by_name, by_index, image = steps(model, "COPY")
    assert by_name.from_stage == 0
    assert by_index.from_stage == 0
    assert image.from_stage is None
    for step in (by_name, by_index, image):
        assert step.sources == ()  # nothing from the build context
    assert model.stages[1].depends_on == frozenset({0})


def test_copy_from_index_of_a_later_stage_is_not_a_stage() -> None:
    """A stage can only copy from stages defined before it."""
    model = parse("FROM python\nCOPY --from=1 /x /x\nFROM python\n")
    assert steps(model, "COPY", 0)[0].from_stage is None


def test_needed_stages_follow_from_and_copy_from() -> None:
    """A target needs its FROM chain and the stages it copies from, nothing else."""
    model = parse(
        "FROM python AS deps\nRUN true\n"
        "FROM python AS docs\nRUN true\n"
        "FROM deps AS build\nRUN true\n"
        "FROM python AS final\nCOPY --from=build /out /out\n"
    )
    assert [s.label for s in model.needed_stages("final")] == ["deps", "build", "final"]
    assert [s.label for s in model.needed_stages(None)] == ["deps", "build", "final"]
    assert [s.label for s in model.needed_stages("docs")] == ["docs"]
    assert [s.label for s in model.needed_stages("DEPS")] == ["deps"]


def test_steps_until_counts_instructions_like_the_classic_builder() -> None:
    """``Step N/M`` of the classic builder counts global ARGs and every stage up to the target."""
    model = parse("ARG PY=3.12\nFROM python:$PY AS a\nRUN true\nFROM python AS b\nRUN true\n")
    assert model.steps_until("a") == 3
    assert model.steps_until(None) == 5


# --- variables -------------------------------------------------------------------------------


def test_global_arg_in_from() -> None:
    """An ARG before the first FROM can be used in FROM; a build arg overrides its default."""
    text = "ARG PY=3.12\nFROM python:${PY}-slim\n"
    assert parse(text).stages[0].base == "python:3.12-slim"
    assert parse(text, build_args={"PY": "3.11"}).stages[0].base == "python:3.11-slim"


def test_global_arg_is_not_visible_in_a_stage_unless_redeclared() -> None:
    """Inside a stage a global ARG is only visible after ``ARG NAME`` (which takes its value)."""
    text = (
        "ARG REQS=requirements.txt\nFROM python\n"
        "COPY ${REQS:-unset} /before/\nARG REQS\nCOPY ${REQS:-unset} /after/\n"
    )
    assert copies(text) == [(("unset",), "/before/"), (("requirements.txt",), "/after/")]


def test_arg_and_env_substitution_in_copy_and_workdir() -> None:
    """ARG/ENV values (``${VAR:-default}`` included) are substituted in COPY and WORKDIR."""
    text = (
        "FROM python\n"
        "ARG APP_DIR=/srv/app\n"
        "ARG REQS\n"
        "ENV HOME_DIR=${APP_DIR}\n"
        "WORKDIR $HOME_DIR\n"
        "COPY ${REQS:-requirements.txt} ./\n"
        "COPY src/ ${HOME_DIR}/code/\n"
    )
    assert copies(text) == [
        (("requirements.txt",), "/srv/app/"),
        (("src",), "/srv/app/code/"),
    ]
    overridden = copies(text, build_args={"APP_DIR": "/opt", "REQS": "requirements-dev.txt"})
    assert overridden == [(("requirements-dev.txt",), "/opt/"), (("src",), "/opt/code/")]


def test_build_arg_applies_only_to_a_declared_arg() -> None:
    """A build arg the Dockerfile never declares with ARG does not reach COPY."""
    assert copies("FROM python\nCOPY ${REQS:-base.txt} /r/\n", build_args={"REQS": "x"}) == [
        (("base.txt",), "/r/")
    ]


def test_env_overrides_arg_of_the_same_name() -> None:
    """An ENV variable wins over an ARG with the same name."""
    text = "FROM python\nARG DIR=/from-arg\nENV DIR=/from-env\nCOPY a.txt $DIR/\n"
    assert copies(text, build_args={"DIR": "/cli"}) == [(("a.txt",), "/from-env/")]


def test_env_forms_and_quotes() -> None:
    """``ENV K=V K2="two words"`` and the legacy ``ENV K V`` form both set variables."""
    text = (
        'FROM python\nENV A=/a B="/b dir"\nENV LEGACY /legacy\n'
        "COPY x $A/\nCOPY y ${B}/\nCOPY z $LEGACY/\n"
    )
    assert copies(text) == [(("x",), "/a/"), (("y",), "/b dir/"), (("z",), "/legacy/")]


def test_single_quotes_keep_a_dollar_literal() -> None:
    """``ENV DIR='$HOME'`` stores ``$HOME`` as text, as the builder does; it is not expanded."""
    text = (
        "FROM python\nENV HOME=/root\n"
        "ENV LIT='/x/$HOME' EXP=\"/y/$HOME\"\n"
        "COPY a $LIT/\nCOPY b $EXP/\n"
    )
    assert copies(text) == [(("a",), "/x/$HOME/"), (("b",), "/y/root/")]


def test_env_pairs_see_values_from_before_the_instruction() -> None:
    """In ``ENV A=1 B=$A`` the reference reads A as it was before this ENV."""
    text = "FROM python\nENV A=/old\nENV A=/new B=$A\nCOPY x $B/\n"
    assert copies(text) == [(("x",), "/old/")]


def test_from_stage_inherits_env_and_workdir_but_not_args() -> None:
    """``FROM <stage>`` starts with that stage's ENV and WORKDIR; its ARGs stay behind."""
    text = (
        "FROM python AS base\nARG TOOLS=/tools\nENV APP=/srv\nWORKDIR /srv/app\n"
        "FROM base\nCOPY x.py .\nCOPY y.py $APP/\nCOPY z.py ${TOOLS:-/none}/\n"
    )
    assert copies(text) == [
        (("x.py",), "/srv/app/"),
        (("y.py",), "/srv/"),
        (("z.py",), "/none/"),
    ]


def test_stage_from_an_image_starts_at_root() -> None:
    """A new stage from an image starts with WORKDIR ``/`` and no variables of earlier stages."""
    text = "FROM python AS a\nENV APP=/srv\nWORKDIR /srv\nFROM python\nCOPY x ${APP}y\n"
    assert copies(text) == [(("x",), "/y")]


# --- WORKDIR and destinations ----------------------------------------------------------------


def test_relative_workdirs_chain_and_destinations_are_absolute() -> None:
    """Relative WORKDIRs build on the previous one; COPY destinations become absolute."""
    text = (
        "FROM python\nWORKDIR /app\nWORKDIR src\nWORKDIR ../lib\n"
        "COPY a.py .\nCOPY b.py b_renamed.py\nCOPY c.py sub/\nCOPY d.py /abs/d.py\n"
    )
    assert copies(text) == [
        (("a.py",), "/app/lib/"),
        (("b.py",), "/app/lib/b_renamed.py"),
        (("c.py",), "/app/lib/sub/"),
        (("d.py",), "/abs/d.py"),
    ]


def test_quoted_workdir_and_sources_lose_their_quotes() -> None:
    """The builder removes quotes from WORKDIR and COPY words."""
    text = 'FROM python\nWORKDIR "/my app"\nCOPY "app.py" \'cfg.ini\' ./\n'
    assert copies(text) == [(("app.py", "cfg.ini"), "/my app/")]


def test_copy_sources_are_context_relative() -> None:
    """Leading ``./``, ``/`` and trailing slashes do not change which context path is read."""
    text = (
        "FROM python\nCOPY ./src/ /app/src/\nCOPY /etc/conf.ini ./\nCOPY . /all\nCOPY ./ /all2/\n"
    )
    assert copies(text) == [
        (("src",), "/app/src/"),
        (("etc/conf.ini",), "/"),
        (("",), "/all"),
        (("",), "/all2/"),
    ]


def test_copy_sources_cannot_escape_the_context() -> None:
    """``COPY ../x`` reads ``x`` of the context: sources are confined to it."""
    assert copies("FROM python\nCOPY ../shared/lib.py /lib/\n") == [(("shared/lib.py",), "/lib/")]


# --- COPY/ADD forms --------------------------------------------------------------------------


def test_json_form_with_spaces() -> None:
    """The JSON form keeps spaces inside paths."""
    text = 'FROM python\nCOPY ["my dir/with space.txt", "other.txt", "/opt/dest dir/"]\n'
    assert copies(text) == [(("my dir/with space.txt", "other.txt"), "/opt/dest dir/")]


def test_line_continuations_and_comments() -> None:
    """A COPY split over lines with comments between them lists all its sources."""
    text = (
        "FROM python\n"
        "# dependencies first\n"
        "COPY pyproject.toml \\\n"
        "     poetry.lock \\\n"
        "     ./\n"
        "RUN poetry install\n"
    )
    model = parse(text)
    copy = steps(model, "COPY")[0]
    assert [s.pattern for s in copy.sources] == ["pyproject.toml", "poetry.lock"]
    assert copy.instruction.line == 3
    assert copy.instruction.display == "COPY pyproject.toml poetry.lock ./"


def test_escape_parser_directive() -> None:
    """With ``# escape=``` the backtick continues lines (Windows-style Dockerfiles)."""
    text = "# escape=`\nFROM python\nCOPY a.txt `\n     b.txt `\n     /dst/\nRUN echo done\n"
    model = parse(text)
    copy = steps(model, "COPY")[0]
    assert [s.pattern for s in copy.sources] == ["a.txt", "b.txt"]
    assert copy.destination == "/dst/"
    assert copy.instruction.line == 3


def test_chown_and_chmod_do_not_change_sources() -> None:
    """``--chown``/``--chmod`` flags are not sources."""
    text = "FROM python\nCOPY --chown=app:app --chmod=644 app.py /srv/\n"
    assert copies(text) == [(("app.py",), "/srv/")]


def test_copy_exclude_flags_are_kept_with_each_source() -> None:
    """``COPY --exclude`` patterns (with variables expanded) travel with the sources."""
    model = parse("FROM python\nARG D=docs\nCOPY --exclude=*.md --exclude=$D . /app/\n")
    copy = steps(model, "COPY")[0]
    assert copy.sources == (ContextSource("", ("*.md", "docs")),)


def test_add_local_file_url_and_git() -> None:
    """ADD of a local path reads the context; URLs and git remotes do not."""
    text = (
        "FROM python\n"
        "ADD vendor.tar.gz /opt/vendor/\n"
        "ADD https://example.com/get.sh /tmp/\n"
        "ADD git@github.com:example/repo.git /src/\n"
        "ADD --chown=1:1 conf/app.ini /etc/app.ini\n"
    )
    assert copies(text) == [
        (("vendor.tar.gz",), "/opt/vendor/"),
        ((), "/tmp/"),
        ((), "/src/"),
        (("conf/app.ini",), "/etc/app.ini"),
    ]


def test_heredoc_copy_reads_no_context() -> None:
    """``COPY <<EOF /x`` writes inline text: it reads nothing from the context."""
    text = (
        "# syntax=docker/dockerfile:1\nFROM python\n"
        "COPY <<EOF /etc/motd\nhello\nEOF\n"
        'COPY <<-"EOT" /etc/other\n\tworld\nEOT\n'
        "RUN <<EOF\npip install flask\nEOF\n"
    )
    model = parse(text)
    for step in model.stages[0].steps:
        assert not step.reads_context, step.instruction.display
    heredoc = steps(model, "COPY")[0]
    assert heredoc.destination == "/etc/motd"
    assert heredoc.instruction.display == "COPY <<EOF /etc/motd"


def test_run_bind_mount_reads_the_context() -> None:
    """``RUN --mount=type=bind,source=uv.lock`` reads that file; cache mounts read nothing."""
    text = (
        "FROM python\n"
        "RUN --mount=type=cache,target=/root/.cache/uv \\\n"
        "    --mount=type=bind,source=uv.lock,target=uv.lock \\\n"
        "    --mount=type=bind,src=pyproject.toml,target=pyproject.toml \\\n"
        "    uv sync --frozen --no-install-project\n"
        "RUN --mount=target=/ctx ls /ctx\n"
        "RUN --mount=type=secret,id=token cat /run/secrets/token\n"
    )
    sync, whole, secret = steps(parse(text), "RUN")
    assert sync.sources == (ContextSource("uv.lock"), ContextSource("pyproject.toml"))
    assert whole.sources == (ContextSource(""),)  # bind is the default type; source the root
    assert secret.sources == ()


# --- errors ----------------------------------------------------------------------------------


def _error(text: str) -> str:
    with pytest.raises(DockerfileError) as caught:
        parse(text, "services/api/Dockerfile")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("services/api/Dockerfile")
    return message


def test_unknown_instruction_is_an_error_naming_the_line() -> None:
    """An unknown instruction names the file, the line and the word."""
    message = _error("FROM python\nCOPY a b\nRUNN pip install x\n")
    assert message.startswith("services/api/Dockerfile:3:")
    assert "RUNN" in message


def test_dockerfile_without_from_is_an_error() -> None:
    """A Dockerfile with only global ARGs has no FROM: an error naming the file."""
    assert "FROM" in _error("ARG PY=3.12\n")


def test_empty_dockerfile_is_an_error() -> None:
    """A Dockerfile with no instructions at all is an error naming the file."""
    _error("# nothing here\n\n")


def test_instruction_before_from_other_than_arg_is_an_error() -> None:
    """Only ARG may come before the first FROM."""
    message = _error("ARG PY=3.12\nRUN echo hi\nFROM python\n")
    assert message.startswith("services/api/Dockerfile:2:")
    assert "FROM" in message


def test_copy_with_one_argument_is_an_error() -> None:
    """COPY needs a source and a destination."""
    message = _error("FROM python\nCOPY app.py\n")
    assert message.startswith("services/api/Dockerfile:2:")
    assert "COPY app.py" in message


def test_unterminated_heredoc_is_an_error() -> None:
    """A heredoc without its terminator is a parse error naming the file."""
    assert "heredoc" in _error("FROM python\nCOPY <<EOF /x\nhello\n")


def test_unknown_target_lists_the_stages() -> None:
    """Asking for a stage that does not exist names it and lists the stages there are."""
    model = parse("FROM python AS Builder\nRUN true\nFROM python\n", "Dockerfile.prod")
    with pytest.raises(DockerfileError) as caught:
        model.needed_stages("tests")
    message = str(caught.value)
    assert message.startswith("Dockerfile.prod:")
    assert "'tests'" in message
    assert "builder, 1" in message


@pytest.mark.parametrize(
    ("text", "build_args", "expected"),
    [
        ("FROM Bad:Name\n", {}, "Dockerfile:1: FROM Bad:Name: 'Bad:Name' is not a valid image"),
        (
            "ARG BASE\nFROM ${BASE}\n",
            {"BASE": "Bad:Name"},
            "Dockerfile:2: FROM ${BASE}: 'Bad:Name' (from ${BASE}) is not a valid image name: "
            "repository name must be lowercase",
        ),
        ("FROM busybox AS a\nFROM a..b\n", {}, "invalid reference format"),
    ],
)
def test_an_invalid_base_image_name_is_reported_at_its_line(
    text: str, build_args: dict[str, str], expected: str
) -> None:
    """A FROM the engine would refuse ("invalid reference format") is an error naming the
    file, the line, the value (and the ARG it came from) before any build."""
    with pytest.raises(DockerfileError) as caught:
        parse(text, "Dockerfile", build_args)
    assert str(caught.value).startswith(expected) or expected in str(caught.value)


def test_a_base_left_to_an_unset_arg_or_a_stage_is_not_judged() -> None:
    """``${BASE}`` with no value, ``scratch`` and stage names (any case) parse."""
    parse("ARG BASE\nFROM ${BASE}\n", "Dockerfile", {})
    parse("FROM scratch\n", "Dockerfile", {})
    parse("FROM busybox AS Build\nFROM build\n", "Dockerfile", {})


def test_a_run_step_records_workdir_user_shell_env_and_args_as_the_builder_sets_them() -> None:
    """The scope a RUN runs in: inherited through ``FROM stage``; an ENV that refers to the
    base image's variable (``$PATH``) is also kept unexpanded, chained onto earlier ones."""
    model = parse(
        "FROM x AS base\nARG V=1\nENV PATH=/venv/bin:$PATH HOME=/h\nUSER app\nWORKDIR /a\n"
        'SHELL ["/bin/bash", "-c"]\nFROM base\nARG V\nENV PATH=/x$V:$PATH\nWORKDIR b\n'
        'RUN pip install -r r.txt\nRUN ["echo", "hi"]\n',
        build_args={"V": "2"},
    )
    shell_form, exec_form = model.stages[1].steps[-2:]
    assert shell_form.scope == Scope(
        workdir="/a/b",
        user="app",
        shell=("/bin/bash", "-c"),
        env=(("PATH", "/x2:/venv/bin:"), ("HOME", "/h")),
        env_from_base=(("PATH", "/x2:/venv/bin:${PATH}"),),
        args=(("V", "2"),),
    )
    assert shell_form.argv == ("/bin/bash", "-c", "pip install -r r.txt")
    assert exec_form.argv == ("echo", "hi")
    assert exec_form.exec_form
