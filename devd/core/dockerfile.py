"""The Dockerfile model: stages, their steps, and the layers that read the build context.

Parsing is done by the official BuildKit parser (the ``dockerfile`` package), so continuations,
comments, parser directives, JSON and shell forms and heredocs behave exactly as in Docker.
This module adds what the parser leaves out: stage structure (``FROM ... AS``, ``COPY --from``),
``ARG``/``ENV`` substitution, ``WORKDIR`` chains and absolute destinations of COPY/ADD.
Pure: it takes the Dockerfile's text and returns values.
"""

from __future__ import annotations

import dataclasses
import functools
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import dockerfile as buildkit

from devd.core.imagename import reference_problem
from devd.core.substitution import expand, references, unquote
from devd.errors import DockerfileError

KNOWN_INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
        "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
        "WORKDIR",
    }
)  # fmt: skip
_REMOTE_PREFIXES = ("http://", "https://", "git@", "git://", "ssh://")


@dataclass(frozen=True)
class Instruction:
    """One instruction as written: keyword, first and last line, and its text on one line."""

    keyword: str
    line: int
    end_line: int
    text: str
    flags: tuple[str, ...] = ()  # as written: ("--mount=type=cache,target=/root/.cache",)
    heredoc: bool = False  # it carries a heredoc (<<EOF ... EOF)

    @property
    def display(self) -> str:
        """The instruction as a person reads it (heredoc bodies cut off)."""
        return " ".join(self.text.split("\n", 1)[0].split())


@dataclass(frozen=True)
class ContextSource:
    """A path pattern in the build context that a step reads (COPY/ADD source, RUN bind mount)."""

    pattern: str  # context-relative, normalised, "" is the whole context
    excludes: tuple[str, ...] = ()


DEFAULT_SHELL = ("/bin/sh", "-c")


@dataclass(frozen=True)
class Scope:
    """What a step runs with, as the builder sets it: the working directory, the user (None:
    the base image's), the ``SHELL`` a shell-form RUN goes through, the ENV values and the
    ARG values in scope (build arguments applied), in order of assignment.

    ``env`` holds the values as expanded from what the Dockerfile says; a value that refers to
    a variable the Dockerfile never sets (the base image's ``$PATH``) is also in
    ``env_from_base``, unexpanded, to expand against the base image's environment.
    """

    workdir: str = "/"
    user: str | None = None
    shell: tuple[str, ...] = DEFAULT_SHELL
    env: tuple[tuple[str, str], ...] = ()
    env_from_base: tuple[tuple[str, str], ...] = ()
    args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Step:
    """One instruction of a stage with what it reads and what it depends on."""

    instruction: Instruction
    sources: tuple[ContextSource, ...] = ()
    destination: str | None = None  # absolute path in the image for COPY/ADD
    from_stage: int | None = None  # COPY --from=<stage of this Dockerfile>
    from_paths: tuple[str, ...] = ()  # what COPY --from copies: absolute paths in that stage
    stage_mounts: tuple[tuple[int, str], ...] = ()  # RUN --mount=from=<stage>: (stage, path)
    scope: Scope = Scope()  # what the step runs with (recorded for RUN steps)
    command: tuple[str, ...] = ()  # RUN: the argv (JSON form) or the one shell-form string
    exec_form: bool = False  # RUN written in JSON form: ``command`` is the argv itself
    mounts: tuple[tuple[tuple[str, str], ...], ...] = ()  # RUN --mount options, expanded

    @property
    def argv(self) -> tuple[str, ...]:
        """What a RUN step executes: its JSON-form argv, or the shell with its command."""
        return self.command if self.exec_form else (*self.scope.shell, *self.command)

    @property
    def keyword(self) -> str:
        return self.instruction.keyword

    @property
    def reads_context(self) -> bool:
        return bool(self.sources)


@dataclass(frozen=True)
class Stage:
    """A build stage: its FROM, name, parent stage (if FROM names one) and steps."""

    index: int
    name: str | None
    base: str
    base_stage: int | None
    steps: tuple[Step, ...]

    @property
    def label(self) -> str:
        return self.name if self.name is not None else str(self.index)

    @property
    def depends_on(self) -> frozenset[int]:
        deps = {step.from_stage for step in self.steps if step.from_stage is not None}
        deps.update(stage for step in self.steps for stage, _ in step.stage_mounts)
        if self.base_stage is not None:
            deps.add(self.base_stage)
        return frozenset(deps)


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile: global instructions (ARGs before the first FROM) and stages."""

    name: str
    preamble: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    syntax: str | None = None  # the ``# syntax=`` parser directive: a frontend image

    def stage(self, ref: str) -> Stage:
        """The stage named ``ref`` (case-insensitive) or with index ``ref``."""
        index = _stage_index(ref, self.stages)
        if index is None:
            known = ", ".join(stage.label for stage in self.stages)
            raise DockerfileError(f"{self.name}: no stage {ref!r} (stages: {known})")
        return self.stages[index]

    def needed_stages(self, target: str | None) -> tuple[Stage, ...]:
        """The stages a build of ``target`` (default: the last stage) needs, in build order."""
        final = self.stage(target) if target else self.stages[-1]
        needed: set[int] = set()
        pending = [final.index]
        while pending:
            index = pending.pop()
            if index not in needed:
                needed.add(index)
                pending.extend(self.stages[index].depends_on)
        return tuple(stage for stage in self.stages if stage.index in needed)

    def base_images(self, target: str | None) -> tuple[str, ...]:
        """The images the stages ``target`` needs are built FROM (not stages, not
        ``scratch``, not a name still holding an unset ``$VARIABLE``), each once."""
        found: dict[str, None] = {}
        for stage in self.needed_stages(target):
            base = stage.base
            if stage.base_stage is None and base and "$" not in base and base != "scratch":
                found[base] = None
        return tuple(found)

    def steps_until(self, target: str | None) -> int:
        """How many instructions the classic builder runs for ``target`` (its ``Step N/M``)."""
        final = self.stage(target) if target else self.stages[-1]
        return len(self.preamble) + sum(len(s.steps) for s in self.stages[: final.index + 1])


BUILDKIT_OPS = frozenset({"FROM", "ADD", "COPY", "RUN", "WORKDIR"})
"""The instructions BuildKit's Dockerfile frontend reports as steps (``[stage 2/5] COPY``);
the others only change the image's configuration and are not reported."""


@dataclass(frozen=True)
class StepLines:
    """Where each step a builder reports comes from in the Dockerfile (its first line).

    ``classic``: the line of the classic builder's ``Step N/M`` at index N-1 (every
    instruction of every stage up to the target, the ARGs before the first FROM first).
    ``buildkit``: the line of BuildKit's ``[STAGE N/M]`` under the key ``"STAGE N"`` (``"N"``
    alone when the Dockerfile has a single stage, as BuildKit names it): per stage, its FROM
    and each instruction of :data:`BUILDKIT_OPS`, the stage named by its ``AS`` name in lower
    case, else ``stage-INDEX``. ``name`` is the Dockerfile's, for messages.
    """

    name: str = "Dockerfile"
    classic: tuple[int, ...] = ()
    buildkit: Mapping[str, int] = field(default_factory=dict)

    def of_classic(self, number: int) -> int | None:
        return self.classic[number - 1] if 0 < number <= len(self.classic) else None

    def of_buildkit(self, stage: str | None, number: int) -> int | None:
        return self.buildkit.get(f"{stage} {number}" if stage else str(number))


def step_lines(dockerfile: Dockerfile) -> StepLines:
    """The :class:`StepLines` of ``dockerfile``."""
    classic = [instruction.line for instruction in dockerfile.preamble]
    buildkit: dict[str, int] = {}
    single = len(dockerfile.stages) == 1
    for stage in dockerfile.stages:
        classic += [step.instruction.line for step in stage.steps]
        label = "" if single else (stage.name or f"stage-{stage.index}")
        ops = [step for step in stage.steps if step.keyword in BUILDKIT_OPS]
        for number, step in enumerate(ops, start=1):
            buildkit[f"{label} {number}".strip()] = step.instruction.line
    return StepLines(dockerfile.name, tuple(classic), buildkit)


@dataclass
class _StageState:
    """What a stage carries while the model is built: variables and working directory."""

    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str | None = None
    shell: tuple[str, ...] = DEFAULT_SHELL
    env_from_base: dict[str, str] = field(default_factory=dict)  # see Scope

    def variables(self) -> dict[str, str]:
        return {**self.args, **self.env}

    def scope(self) -> Scope:
        return Scope(
            self.workdir,
            self.user,
            self.shell,
            tuple(self.env.items()),
            tuple(self.env_from_base.items()),
            tuple(self.args.items()),
        )


@functools.lru_cache(maxsize=64)
def _parse(text: str) -> tuple[buildkit.Command, ...]:
    """BuildKit's parse of ``text``, once per text: the Go parser keeps about 3 KB per call
    for good (the soak measured 41 -> 85 MB over 18,000 parses), and devd parses the same
    Dockerfile again for every service built from it and every configuration reload."""
    return tuple(buildkit.parse_string(text))


def parse(
    text: str, name: str = "Dockerfile", build_args: Mapping[str, str] | None = None
) -> Dockerfile:
    """Parse Dockerfile ``text`` (``name`` is used in messages) into the model."""
    try:
        commands = _parse(text)
    except buildkit.GoParseError as error:
        raise DockerfileError(f"{name}: {error}") from error
    instructions = [_instruction(command, name) for command in commands]
    model = _Builder(name, dict(build_args or {})).build(commands, instructions)
    return dataclasses.replace(model, syntax=_syntax_directive(text))


_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(\S.*?)\s*$")


def _syntax_directive(text: str) -> str | None:
    """The ``# syntax=`` parser directive: only the comments of the form ``# key=value`` at
    the very top are directives (the first other line ends them)."""
    for line in text.splitlines():
        match = _DIRECTIVE.match(line.strip())
        if match is None:
            return None
        if match[1].lower() == "syntax":
            return match[2]
    return None


def _instruction(command: buildkit.Command, name: str) -> Instruction:
    keyword = str(command.cmd).upper()
    if keyword not in KNOWN_INSTRUCTIONS:
        raise DockerfileError(
            f"{name}:{command.start_line}: unknown instruction {command.cmd!r}; "
            "expected a Dockerfile instruction such as FROM, RUN, COPY"
        )
    return Instruction(
        keyword,
        command.start_line,
        command.end_line,
        command.original,
        tuple(command.flags),
        bool(command.heredocs),
    )


class _Builder:
    """Walks the parsed commands once, tracking stages, variables and working directories."""

    def __init__(self, name: str, build_args: dict[str, str]) -> None:
        self.name = name
        self.build_args = build_args
        self.global_args: dict[str, str] = {}
        self.stages: list[Stage] = []
        self.states: list[_StageState] = []

    def build(
        self, commands: Sequence[buildkit.Command], instructions: Sequence[Instruction]
    ) -> Dockerfile:
        preamble: list[Instruction] = []
        current: list[Step] | None = None
        header: tuple[str | None, str, int | None] | None = None
        state = _StageState()
        for command, instruction in zip(commands, instructions, strict=True):
            if instruction.keyword == "FROM":
                if header is not None and current is not None:
                    self._close(header, current, state)
                header, state = self._open(command, instruction)
                current = [Step(instruction)]
            elif current is None:
                if instruction.keyword != "ARG":
                    raise self._error(instruction, "expected FROM (only ARG may come before it)")
                self._global_arg(command)
                preamble.append(instruction)
            else:
                current.append(self._step(command, instruction, state))
        if header is None or current is None:
            raise DockerfileError(
                f"{self.name}: no FROM instruction; a Dockerfile starts with FROM"
            )
        self._close(header, current, state)
        return Dockerfile(self.name, tuple(preamble), tuple(self.stages))

    def _error(self, instruction: Instruction, message: str) -> DockerfileError:
        return DockerfileError(f"{self.name}:{instruction.line}: {instruction.display}: {message}")

    def _global_arg(self, command: buildkit.Command) -> None:
        for token in command.value:
            key, _, default = token.partition("=")
            value = self.build_args.get(key, expand(unquote(default), self.global_args))
            self.global_args[key] = value

    def _open(
        self, command: buildkit.Command, instruction: Instruction
    ) -> tuple[tuple[str | None, str, int | None], _StageState]:
        words = list(command.value)
        if not words:
            raise self._error(instruction, "FROM needs an image or a stage name")
        name = None
        if len(words) >= 3 and words[-2].upper() == "AS":
            name = words[-1].lower()
            words = words[:-2]
        base = expand(words[0], self.global_args)
        base_stage = _stage_index(base, self.stages, by_number=False)
        if base_stage is None:
            self._check_base(instruction, words[0], base)
        state = _StageState()
        if base_stage is not None:
            parent = self.states[base_stage]
            state = _StageState(
                dict(parent.env),
                {},
                parent.workdir,
                parent.user,
                parent.shell,
                dict(parent.env_from_base),
            )
        return (name, base, base_stage), state

    def _check_base(self, instruction: Instruction, written: str, base: str) -> None:
        """An image name the engine would refuse, reported at its line. A name still holding
        a ``$`` or empty (an ARG without value) is left to the engine, which says so."""
        problem = None if not base or "$" in base else reference_problem(base)
        if problem is None:
            return
        given = f" (from {written})" if written != base else ""
        raise self._error(
            instruction,
            f"{base!r}{given} is not a valid image name: {problem}; expected an image such "
            "as 'python:3.11-slim' or a stage named by an earlier FROM ... AS",
        )

    def _close(
        self, header: tuple[str | None, str, int | None], steps: list[Step], state: _StageState
    ) -> None:
        name, base, base_stage = header
        self.stages.append(Stage(len(self.stages), name, base, base_stage, tuple(steps)))
        self.states.append(state)

    def _step(
        self, command: buildkit.Command, instruction: Instruction, state: _StageState
    ) -> Step:
        keyword = instruction.keyword
        if keyword == "ARG":
            for token in command.value:
                key, has_default, default = token.partition("=")
                if key in self.build_args:
                    state.args[key] = self.build_args[key]
                elif has_default:
                    state.args[key] = expand(unquote(default), state.variables())
                elif key in self.global_args:
                    state.args[key] = self.global_args[key]
        elif keyword == "ENV":
            self._env(command, instruction, state)
        elif keyword == "WORKDIR":
            path = expand(unquote(command.value[0]) if command.value else "", state.variables())
            state.workdir = posixpath.normpath(posixpath.join(state.workdir, path))
        elif keyword == "USER":
            user = expand(unquote(command.value[0]) if command.value else "", state.variables())
            state.user = user or None
        elif keyword == "SHELL" and command.value:
            state.shell = tuple(command.value)
        elif keyword in ("COPY", "ADD"):
            return self._copy(command, instruction, state)
        elif keyword == "RUN":
            variables = state.variables()
            sources, stage_mounts = _bind_mounts(command.flags, variables, self.stages)
            return Step(
                instruction,
                sources=sources,
                stage_mounts=stage_mounts,
                scope=state.scope(),
                command=tuple(command.value),
                exec_form=bool(command.json),
                mounts=_mount_options(command.flags, variables),
            )
        return Step(instruction)

    def _env(self, command: buildkit.Command, instruction: Instruction, state: _StageState) -> None:
        values = list(command.value)
        if len(values) % 2:
            raise self._error(instruction, "ENV needs KEY=VALUE pairs")
        variables = state.variables()
        for key, value in zip(values[::2], values[1::2], strict=True):
            raw = unquote(value)
            state.env[key] = expand(raw, variables)
            known = variables.keys() - state.env_from_base.keys()
            if references(raw) - known:  # refers to the base image's variable ($PATH)
                deferred = _Deferred({**variables, **state.env_from_base})
                state.env_from_base[key] = expand(raw, deferred)
            else:
                state.env_from_base.pop(key, None)

    def _copy(
        self, command: buildkit.Command, instruction: Instruction, state: _StageState
    ) -> Step:
        variables = state.variables()
        # The builder removes quotes from every word, JSON form included (its shell lexer).
        words = [expand(unquote(word), variables) for word in command.value]
        if len(words) < 2:
            raise self._error(
                instruction, f"{instruction.keyword} needs at least one source and a destination"
            )
        flags = _flags(command.flags)
        destination = _destination(words[-1], state.workdir)
        if "from" in flags:
            source_stage = expand(flags["from"][-1], variables)
            return Step(
                instruction,
                destination=destination,
                from_stage=_stage_index(source_stage, self.stages),
                from_paths=tuple(_absolute(word) for word in words[:-1]),
            )
        heredocs = {doc.name for doc in command.heredocs}
        excludes = tuple(expand(p, variables) for p in flags.get("exclude", []))
        sources = tuple(
            ContextSource(_context_path(word), excludes)
            for word in words[:-1]
            if not word.startswith(_REMOTE_PREFIXES) and not _is_heredoc(word, heredocs)
        )
        return Step(instruction, sources=sources, destination=destination)


class _Deferred(dict[str, str]):
    """Variables for an expansion that leaves each unknown one as a reference (``${PATH}``),
    to be expanded later against the base image's environment."""

    def get(self, key: str, default: object = None) -> str:
        return super().get(key, f"${{{key}}}")

    def __contains__(self, key: object) -> bool:
        return True


def _flags(flags: Sequence[str]) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for flag in flags:
        key, _, value = flag.removeprefix("--").partition("=")
        parsed.setdefault(key.lower(), []).append(value)
    return parsed


def _mount_options(
    flags: Sequence[str], variables: Mapping[str, str]
) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Each ``RUN --mount=...`` as its (option, value) pairs, variables expanded."""
    return tuple(
        tuple(item.partition("=")[::2] for item in expand(value, variables).split(",") if item)
        for value in _flags(flags).get("mount", [])
    )


def _bind_mounts(
    flags: Sequence[str], variables: Mapping[str, str], stages: Sequence[Stage]
) -> tuple[tuple[ContextSource, ...], tuple[tuple[int, str], ...]]:
    """What ``RUN --mount=type=bind`` (the default mount type) reads: context paths, and
    (stage, absolute path) for a mount ``from`` an earlier stage of this Dockerfile."""
    sources = []
    stage_mounts = []
    for pairs in _mount_options(flags, variables):
        options = dict(pairs)
        if options.get("type", "bind") != "bind":
            continue
        source = options.get("source", options.get("src", "."))
        if "from" not in options:
            sources.append(ContextSource(_context_path(source)))
        elif (stage := _stage_index(options["from"], stages)) is not None:
            stage_mounts.append((stage, _absolute(source)))
    return tuple(sources), tuple(stage_mounts)


def _is_heredoc(word: str, names: set[str]) -> bool:
    return word.startswith("<<") and word.lstrip("<-").strip("'\"") in names


def _context_path(source: str) -> str:
    """A COPY source as a context-relative path: no leading slash, no ``.``; ``""`` = all."""
    cleaned = posixpath.normpath("/" + source).lstrip("/")
    return "" if cleaned == "." else cleaned


def _destination(dest: str, workdir: str) -> str:
    """The absolute destination, keeping a trailing slash (it means 'into this directory')."""
    absolute = posixpath.normpath(posixpath.join(workdir, dest))
    if dest.endswith("/") or dest in (".", "./") or dest.endswith("/."):
        return absolute.rstrip("/") + "/"
    return absolute


def _stage_index(ref: str, stages: Sequence[Stage], by_number: bool = True) -> int | None:
    for stage in stages:
        if stage.name is not None and stage.name == ref.lower():
            return stage.index
    if by_number and ref.isdigit() and int(ref) < len(stages):
        return int(ref)
    return None


def _absolute(path: str) -> str:
    """``path`` in a stage as an absolute path (POSIX keeps a leading ``//``: not here)."""
    return "/" + posixpath.normpath("/" + path).lstrip("/")
