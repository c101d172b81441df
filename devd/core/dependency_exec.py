"""Dependency exec: whether a ``dependency`` save can be answered by re-running the
Dockerfile's own install step inside the running container, and exactly how. Pure.

``dependency_action = "exec"`` asks for it; :func:`decide` says yes only when the result is
what a rebuild would give the container, and otherwise declines with the reason (the save is
then rebuilt). It declines when:

- the batch also changes the Dockerfile, or has code changes while ``code_action = "rebuild"``
  (or code that has no place in the running container);
- the saves feed different RUN steps, or reach the step through another stage (``COPY
  --from``), or the step is in another stage than the one the container runs;
- another RUN step comes after it in the stage (a rebuild would re-run that too);
- the step reads code: the whole build context through a COPY after the previous RUN or a
  bind mount, or a local path it installs (``pip install .``, ``-e``, ``uv sync`` without
  ``--no-install-project``, ``poetry install`` without ``--no-root``);
- its command is anything but package installs (``pip install``, ``uv pip install``, ``uv
  sync``, ``poetry install``, ``npm ci``...) joined by ``&&`` or ``;``: ``rm -rf``,
  ``apt-get``, pipes, redirections and command substitutions write outside the install
  locations or are beyond what devd reads;
- it has a heredoc, ``--mount=type=secret`` or ``type=ssh`` (devd's builds have no session
  to give them), or a bind mount from a stage, a glob or a whole directory tree.

What it runs: the step's argv (through its ``SHELL`` for the shell form) in the step's
WORKDIR, as its USER (the base image's when the Dockerfile sets none), with its ENV and the
ARG values devd builds with, after copying the saved files to where the image has them: a
COPY's destination (kept) and a bind mount's target under the WORKDIR (for the exec only).
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from devd.config import CodeAction
from devd.core.classify import BuildView, Classification, Kind
from devd.core.copy_sources import has_glob, landing_path, reads
from devd.core.dockerfile import Stage, Step
from devd.core.substitution import expand


@dataclass(frozen=True)
class DependencyExec:
    """What an exec runs, and the files it copies in first.

    ``copies``: container path -> project-relative path, kept (a COPY's destination; deleted
    in the container when gone on the host). ``mounts``: the same for a bind mount's target,
    present only while the command runs (unless a copy puts the same file there).
    ``base_image``: the image the step's stage starts from (its environment fills in
    ``env_from_base`` and its user stands in when ``user`` is None)."""

    line: int
    instruction: str
    argv: tuple[str, ...]
    workdir: str
    user: str | None
    base_image: str
    env: tuple[tuple[str, str], ...]
    env_from_base: tuple[tuple[str, str], ...]
    args: tuple[tuple[str, str], ...]
    copies: tuple[tuple[str, str], ...]
    mounts: tuple[tuple[str, str], ...]

    @property
    def command(self) -> str:
        """The command as a shell line (``/bin/sh -c 'pip install -r requirements.txt'``)."""
        return shlex.join(self.argv)

    def describe(self) -> str:
        """The command with where and as whom it runs: what ``devd explain`` shows."""
        user = self.user or "the base image's user"
        return f"`{self.command}` in {self.workdir} as {user}"

    def environment(self, base_env: Mapping[str, str]) -> dict[str, str]:
        """The variables the command runs with: the ARG values, then the ENV values (those
        that refer to the base image's variables expanded against ``base_env``)."""
        values = {**dict(self.args), **dict(self.env)}
        for key, raw in self.env_from_base:
            values[key] = expand(raw, {**base_env, **dict(self.args)})
        return values

    def removals(self) -> tuple[str, ...]:
        """The mount targets to delete after the command (the ones no copy keeps)."""
        kept = {path for path, _ in self.copies}
        return tuple(path for path, _ in self.mounts if path not in kept)


@dataclass(frozen=True)
class Declined:
    """Why a dependency save is rebuilt rather than exec'd."""

    reason: str


Decision = DependencyExec | Declined


def decide(changes: Iterable[Classification], view: BuildView, code_action: CodeAction) -> Decision:
    """Whether the batch ``changes`` (of one service) can be exec'd, and how."""
    relevant = [c for c in changes if c.kind is not Kind.IGNORED]
    dependencies = [c for c in relevant if c.kind is Kind.DEPENDENCY]
    declined = _batch_problem(relevant, dependencies, code_action)
    if declined is not None:
        return declined
    runs = sorted({c.run_line for c in dependencies if c.run_line is not None})
    if len(runs) != 1:
        lines = " and ".join(f"{view.dockerfile_path}:{line}" for line in runs)
        return Declined(f"the saves feed different RUN steps ({lines}); exec runs one")
    stages = view.dockerfile.needed_stages(view.target)
    final = stages[-1]
    found = _step_at(stages, runs[0])
    if found is None:  # the model changed under the classification: say so, never guess
        return Declined(f"no RUN step at {view.dockerfile_path}:{runs[0]}")
    stage, step = found
    problem = _step_problem(view, stages, stage, step, dependencies)
    if problem is not None:
        return Declined(problem)
    return _plan(view, final, step, relevant)


def explained(change: Classification, view: BuildView, code_action: CodeAction) -> Classification:
    """``change`` (a dependency save) with what ``dependency_action = "exec"`` does with it
    added to its reason, and the command it runs (``devd explain``)."""
    decision = decide([change], view, code_action)
    if isinstance(decision, Declined):
        note = f"dependency_action = exec declines, so a save rebuilds: {decision.reason}"
        return dataclasses.replace(change, reason=f"{change.reason}; {note}")
    note = (
        f"dependency_action = exec runs {decision.describe()} in the running container, "
        "then restarts it"
    )
    return dataclasses.replace(
        change, reason=f"{change.reason}; {note}", exec_command=decision.command
    )


def _batch_problem(
    relevant: list[Classification], dependencies: list[Classification], code_action: CodeAction
) -> Declined | None:
    if any(c.kind is Kind.DOCKERFILE for c in relevant):
        return Declined("the Dockerfile changed too")
    if not dependencies:
        return Declined("no dependency change")
    code = [c for c in relevant if c.kind is Kind.CODE]
    if code and code_action == "rebuild":
        return Declined(f"{_paths(code)} changed too and code_action = rebuild")
    homeless = [c for c in code if c.destination is None]
    if homeless:
        return Declined(f"{_paths(homeless)} has no place in the running container")
    return None


def _paths(changes: list[Classification]) -> str:
    more = f" (+{len(changes) - 1} more)" if len(changes) > 1 else ""
    return changes[0].path + more


def _step_at(stages: tuple[Stage, ...], line: int) -> tuple[Stage, Step] | None:
    for stage in stages:
        for step in stage.steps:
            if step.keyword == "RUN" and step.instruction.line == line:
                return stage, step
    return None


def _step_problem(
    view: BuildView,
    stages: tuple[Stage, ...],
    stage: Stage,
    step: Step,
    dependencies: list[Classification],
) -> str | None:
    """Why re-running ``step`` in the container would not give what a rebuild gives."""
    where = f"{view.dockerfile_path}:{step.instruction.line}"
    final = stages[-1]
    if stage is not final:
        return f"{where} is in stage {stage.label!r}; the container runs stage {final.label!r}"
    entry = {c.line or 0 for c in dependencies} - {s.instruction.line for s in final.steps}
    if entry:
        return f"the save reaches {where} through another stage (line {min(entry)})"
    position = final.steps.index(step)
    later = next((s for s in final.steps[position + 1 :] if s.keyword == "RUN"), None)
    if later is not None:
        shown = f"{view.dockerfile_path}:{later.instruction.line} `{later.instruction.display}`"
        return f"{shown} comes after it and would re-run too"
    return _reads_code(view, final, position) or _mount_problem(step) or _command_problem(step)


def _inputs(stage: Stage, position: int) -> list[Step]:
    """The COPY/ADD steps between the previous RUN of ``stage`` and the RUN at ``position``."""
    found: list[Step] = []
    for step in reversed(stage.steps[:position]):
        if step.keyword == "RUN":
            break
        if step.keyword in ("COPY", "ADD") and step.sources:
            found.append(step)
    return found


def _reads_code(view: BuildView, stage: Stage, position: int) -> str | None:
    run = stage.steps[position]
    for step in [*_inputs(stage, position), run]:
        if any(source.pattern == "" for source in step.sources):
            what = (
                "a bind mount"
                if step is run
                else f"{view.dockerfile_path}:{step.instruction.line} `{step.instruction.display}`"
            )
            return f"it reads the whole build context, code included, through {what}"
    return None


def _mount_problem(step: Step) -> str | None:
    if step.instruction.heredoc:
        return "its command is a heredoc"
    for pairs in step.mounts:
        options = dict(pairs)
        kind = options.get("type", "bind")
        if kind in ("secret", "ssh"):
            return f"it uses --mount=type={kind}"
        if kind == "bind" and "from" in options:
            return f"it bind-mounts from {options['from']!r}, which the container does not hold"
        source = options.get("source", options.get("src", "."))
        if kind == "bind" and has_glob(source):
            return f"it bind-mounts a glob ({source})"
    return None


# Package installs: (program, subcommand words) whose writes stay in the install locations.
_INSTALLS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pip", ("install",)),
    ("uv", ("pip", "install")),
    ("uv", ("sync",)),
    ("poetry", ("install",)),
    ("pipenv", ("install",)),
    ("pipenv", ("sync",)),
    ("npm", ("ci",)),
    ("npm", ("install",)),
    ("yarn", ("install",)),
    ("pnpm", ("install",)),
    ("bundle", ("install",)),
    ("go", ("mod", "download")),
)
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
_PIP = re.compile(r"^pip(\d+(\.\d+)?)?$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = frozenset({"&&", ";"})
# pip options whose value is a path that is not the project's code
_PATH_OPTIONS = frozenset(
    {"-r", "--requirement", "-c", "--constraint", "-f", "--find-links", "-t", "--target",
     "--prefix", "--root", "--cache-dir", "--src"}
)  # fmt: skip


def _command_problem(step: Step) -> str | None:
    """Why the command is not only package installs (None: it is)."""
    text = " ".join(step.command)
    segments: list[list[str]] = [list(step.command)]
    if not step.exec_form:
        if "$(" in text or "`" in text:
            return "its command substitutes a command's output"
        lexer = shlex.shlex(text.replace("\n", " ; "), posix=True, punctuation_chars=";&|<>()")
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError as error:
            return f"devd cannot read its command ({error})"
        plumbing = next(
            (t for t in tokens if set(t) <= set(";&|<>()") and t not in _SEPARATORS), None
        )
        if plumbing is not None:
            return f"its command uses {plumbing!r}, beyond the package installs exec re-runs"
        segments = [[]]
        for token in tokens:
            if token in _SEPARATORS:
                segments.append([])
            else:
                segments[-1].append(token)
    for words in segments:
        problem = _segment_problem(words)
        if problem is not None:
            return problem
    return None


def _segment_problem(words: list[str]) -> str | None:
    while words and _ASSIGNMENT.match(words[0]):
        words = words[1:]
    if not words:
        return None
    program = posixpath.basename(words[0])
    rest = words[1:]
    if _PYTHON.match(program) and rest[:2] == ["-m", "pip"]:
        program, rest = "pip", rest[2:]
    elif _PIP.match(program):
        program = "pip"
    shown = " ".join(words)
    for name, sub in _INSTALLS:
        if program == name and rest[: len(sub)] == list(sub):
            return _installs_code(name, sub, rest[len(sub) :], shown)
    return f"`{shown}` writes outside the install locations (exec re-runs only package installs)"


def _installs_code(
    program: str, sub: tuple[str, ...], options: list[str], shown: str
) -> str | None:
    if program == "uv" and sub == ("sync",):
        if not {"--no-install-project", "--no-install-workspace"} & set(options):
            return f"`{shown}` installs the project itself, which reads code"
        return None
    if program == "poetry" and "--no-root" not in options and "--only-root" not in options:
        return f"`{shown}` installs the project itself, which reads code"
    if program != "pip" and sub != ("pip", "install"):
        return None
    previous = ""
    for word in options:
        if word in ("-e", "--editable") or word.startswith("--editable="):
            return f"`{shown}` installs an editable local path, which reads code"
        local = word.startswith((".", "/")) or word.startswith("file:")
        if local and not word.startswith("-") and previous not in _PATH_OPTIONS:
            return f"`{shown}` installs the local path {word}, which reads code"
        previous = word
    return None


def _plan(
    view: BuildView, final: Stage, step: Step, relevant: list[Classification]
) -> DependencyExec | Declined:
    scope = step.scope
    copies: dict[str, str] = {}
    mounts: dict[str, str] = {}
    for change in relevant:
        relative = _context_relative(change.path, view.context)
        if any(
            s.keyword == "ADD" and any(reads(x, relative) for x in s.sources) for s in final.steps
        ):
            return Declined(
                f"ADD takes {change.path}, and may unpack it: where it lands is unknown"
            )
        landed = _landings(final, relative)
        if change.kind is Kind.CODE and change.destination is not None:
            landed.add(change.destination)
        for destination in landed:
            copies[destination] = change.path
    for pairs in step.mounts:
        options = dict(pairs)
        if options.get("type", "bind") != "bind":
            continue
        source = posixpath.normpath("/" + options.get("source", options.get("src", "."))).lstrip(
            "/"
        )
        target = posixpath.normpath(
            posixpath.join(
                scope.workdir,
                options.get("target", options.get("dst", options.get("destination", ""))),
            )
        )
        mounts[target] = posixpath.join(view.context, source) if view.context else source
    unplaced = [
        c
        for c in relevant
        if c.kind is Kind.DEPENDENCY and c.path not in {*copies.values(), *mounts.values()}
    ]
    if unplaced:
        return Declined(f"where {_paths(unplaced)} lands in the image is unknown")
    return DependencyExec(
        line=step.instruction.line,
        instruction=step.instruction.display,
        argv=step.argv,
        workdir=scope.workdir,
        user=scope.user,
        base_image=_base_image(view, final),
        env=scope.env,
        env_from_base=scope.env_from_base,
        args=scope.args,
        copies=tuple(sorted(copies.items())),
        mounts=tuple(sorted(mounts.items())),
    )


def _landings(stage: Stage, relative: str) -> set[str]:
    """Where the COPY/ADD steps of ``stage`` put context path ``relative``."""
    landed: set[str] = set()
    for step in stage.steps:
        if step.keyword != "COPY" or step.destination is None:
            continue
        many = len(step.sources) > 1
        for source in step.sources:
            if reads(source, relative):
                where = landing_path(source, step.destination, relative, many)
                if where is not None:
                    landed.add(where)
    return landed


def _context_relative(path: str, context: str) -> str:
    return path[len(context) :].lstrip("/") if context else path


def _base_image(view: BuildView, stage: Stage) -> str:
    stages = view.dockerfile.stages
    while stage.base_stage is not None:
        stage = stages[stage.base_stage]
    return stage.base
