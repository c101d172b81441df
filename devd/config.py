"""Configuration: read and validated here with pydantic-settings, handed on as frozen values.

Sources, highest first: command-line flags; ``DEVD_*`` environment variables (nested with
``__``: ``DEVD_SERVICES__APP__CODE_ACTION=sync``); ``devd.toml`` at the project root, or
``[tool.devd]`` in ``pyproject.toml``; the defaults shipped in ``config/defaults.toml``.
With no configuration at all the project has one service ``app`` built from ``./Dockerfile``
with context ``.``, and the project is named after its directory.

When no source defines ``services`` and the project has compose files (``-f``,
``COMPOSE_FILE``, or ``compose.yaml``... at the root with its override file), the services
come from them (see :mod:`devd.compose`). devd's own keys still apply on top:
``debounce_ms``, ``ignore``, ``log_format`` and ``verbose`` as usual, and ``project``, when
set, names the project instead of compose's ``COMPOSE_PROJECT_NAME`` / ``name:`` / directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from devd.core.builders import BuilderChoice
from devd.core.imagename import is_component
from devd.core.signals import signal_problem
from devd.errors import ConfigError

CONFIG_FILE = "devd.toml"
PYPROJECT = "pyproject.toml"
ENV_PREFIX = "DEVD_"
DEFAULT_SERVICE = "app"
CodeAction = Literal["rebuild", "sync-restart", "sync"]
DependencyAction = Literal["rebuild", "exec"]  # see devd.core.dependency_exec
LogFormat = Literal["auto", "console", "json"]

_PORT = re.compile(
    r"^(?:(?P<ip>[0-9.]+|\[[0-9a-fA-F:]+\]):)?(?P<host>\d+):(?P<container>\d+)(?:/(?P<proto>tcp|udp))?$"
)
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# The image of a service is devd-PROJECT-SERVICE: both names must be components of an image
# name (devd.core.imagename); the caps keep the whole under the engine's 255 characters.
_MAX_NAME = 100


def shipped_config_dir() -> Path:
    """``config/`` of the source tree, or its copy inside an installed wheel."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_shipped_config", package.parent / "config"):
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        f"devd's shipped configuration is missing (looked in {package.parent / 'config'})"
    )


class SecretSettings(BaseModel):
    """``secrets.NAME = { file = "..." }`` or ``{ env = "..." }``: where a build secret is
    read from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str | None = None
    env: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretSettings:
        if (self.file is None) == (self.env is None):
            raise ValueError('expected one of file = "PATH" or env = "VARIABLE"')
        return self


class ServiceSettings(BaseModel):
    """``[services.NAME]``: how to build and run one service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dockerfile: str = "Dockerfile"
    context: str = "."
    target: str | None = None
    build_args: dict[str, str] = Field(default_factory=dict)
    build_network: str | None = None  # the network RUN steps use: default, host, none...
    ports: list[str] = Field(default_factory=list)
    environment: dict[str, str] = Field(default_factory=dict)
    env_file: str | None = None
    command: list[str] | str | None = None
    code_action: CodeAction = "rebuild"
    dependency_action: DependencyAction = "rebuild"
    stop_timeout: float = Field(default=10.0, ge=0, le=3600)
    stop_signal: str | None = None  # what stops the container (default: the image's, SIGTERM)
    dockerfile_no_cache: bool = False
    builder: BuilderChoice | None = None  # None: the project's
    secrets: dict[str, SecretSettings] = Field(default_factory=dict)  # RUN --mount=type=secret
    ssh: list[str] = Field(default_factory=list)  # "default" or "ID=SOCKET": --mount=type=ssh

    @field_validator("secrets")
    @classmethod
    def _secret_ids(cls, secrets: dict[str, SecretSettings]) -> dict[str, SecretSettings]:
        for ident in secrets:
            if not _NAME.match(ident):
                raise ValueError(f"secret id {ident!r}: {_ID_RULE}")
        return secrets

    @field_validator("ssh")
    @classmethod
    def _ssh(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            problem = ssh_entry_problem(entry)
            if problem:
                raise ValueError(problem)
        return entries

    @field_validator("ports")
    @classmethod
    def _ports(cls, ports: list[str]) -> list[str]:
        for port in ports:
            match = _PORT.match(port)
            if match is None or not all(1 <= int(match[g]) <= 65535 for g in ("host", "container")):
                raise ValueError(
                    f'expected "HOST:CONTAINER" with ports 1-65535 (e.g. "8000:8000"), got {port!r}'
                )
        return ports

    @field_validator("stop_signal")
    @classmethod
    def _stop_signal(cls, value: str | None) -> str | None:
        problem = signal_problem(value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value


class Settings(BaseSettings):
    """The whole configuration, as validated from every source."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    project: str | None = None
    log_format: LogFormat = "auto"
    verbose: bool = False
    debounce_ms: int = Field(default=50, ge=0, le=10_000)
    ignore: list[str] = Field(default_factory=list)
    builder: BuilderChoice = "auto"
    services: dict[str, ServiceSettings] = Field(default_factory=dict)

    @field_validator("services")
    @classmethod
    def _service_names(cls, services: dict[str, ServiceSettings]) -> dict[str, ServiceSettings]:
        for name in services:
            if not _NAME.match(name):
                raise ValueError(
                    f"service name {name!r}: expected a letter or digit, then letters, "
                    "digits, '_', '.' or '-'"
                )
            problem = image_part_problem("service", name)
            if problem:
                raise ValueError(problem)
        return services


_ID_RULE = "expected a letter or digit, then letters, digits, '_', '.' or '-'"


def ssh_entry_problem(entry: str) -> str | None:
    """Why ``entry`` (``default``, ``ID`` or ``ID=SOCKET``) is no SSH agent to forward."""
    ident, _, path = entry.partition("=")
    if not _NAME.match(ident):
        return f"ssh {entry!r}: the id {ident!r}: {_ID_RULE}"
    if "=" in entry and not path:
        return f"ssh {entry!r}: expected ID=SOCKET, the agent's socket after '='"
    return None


def ssh_agent(entry: str, base: Path) -> SshAgent:
    """The agent ``entry`` (validated by :func:`ssh_entry_problem`) names; a relative socket
    path is taken from ``base``."""
    ident, _, path = entry.partition("=")
    return SshAgent(ident, (base / os.path.expanduser(path)).resolve() if path else None)


def image_part_problem(what: str, name: str) -> str | None:
    """Why ``name`` (a project or service name) cannot be part of devd's image names."""
    if is_component(name.lower()) and len(name) <= _MAX_NAME:
        return None
    return (
        f"{what} name {name!r} cannot be part of an image name: expected at most {_MAX_NAME} "
        "letters and digits, with '.', '_', '__' or '-' only between two of them (e.g. 'api-v2')"
    )


@dataclass(frozen=True)
class PortMapping:
    host: int
    container: int
    protocol: str = "tcp"
    host_ip: str | None = None


WatchAction = Literal["sync", "rebuild", "sync+restart", "restart", "sync+exec"]
DependencyCondition = Literal[
    "service_started", "service_healthy", "service_completed_successfully"
]


@dataclass(frozen=True)
class Mount:
    """A volume of a service: ``bind`` (source is an absolute host path), ``volume`` (source is
    a named volume of the project, or empty for an anonymous one) or ``tmpfs``."""

    kind: Literal["bind", "volume", "tmpfs"]
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class ExternalVolume:
    """A compose volume marked ``external``: devd mounts it as it is and never creates, labels
    or removes it; ``devd up`` stops before starting anything when it does not exist."""

    key: str  # where the file declares it, for messages: "compose.yaml: volumes.data"
    name: str  # its name in the engine


@dataclass(frozen=True)
class Healthcheck:
    """A container healthcheck; ``test`` as the engine takes it (``("CMD", ...)``,
    ``("CMD-SHELL", "...")`` or ``("NONE",)``)."""

    test: tuple[str, ...]
    interval_s: float = 30.0
    timeout_s: float = 30.0
    retries: int = 3
    start_period_s: float = 0.0


@dataclass(frozen=True)
class Dependency:
    """``depends_on``: start ``service`` first and, per ``condition``, wait for it."""

    service: str
    condition: DependencyCondition = "service_started"
    required: bool = True


@dataclass(frozen=True)
class ExecHook:
    """A command to run in a service's running container, as ``docker exec`` runs it: as
    ``user`` (the container's when None), in ``working_dir`` (the container's when None),
    with ``environment`` over the container's, with all capabilities when ``privileged``."""

    command: tuple[str, ...]
    user: str | None = None
    working_dir: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    privileged: bool = False


@dataclass(frozen=True)
class WatchRule:
    """One ``develop.watch`` rule of a compose service. ``path`` is relative to the project
    root (posix, no ``..``); ``ignore``/``include`` are patterns relative to ``path``.
    ``exec_hook`` is a ``sync+exec`` rule's ``exec:`` (what to run after the sync; None for
    the other actions)."""

    action: WatchAction
    path: str
    target: str | None = None
    ignore: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    initial_sync: bool = False
    exec_hook: ExecHook | None = None


@dataclass(frozen=True)
class Ulimit:
    """A resource limit of a container (``nofile``, ``nproc``...): soft and hard."""

    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class ContainerOptions:
    """Compose's container options that devd hands to the engine as they are: extra
    ``/etc/hosts`` lines (``host:ip``), capabilities added and dropped, a read-only root
    filesystem, the size of ``/dev/shm`` in bytes (None: the engine's 64 MiB), ulimits."""

    extra_hosts: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    read_only: bool = False
    shm_size: int | None = None
    ulimits: tuple[Ulimit, ...] = ()


@dataclass(frozen=True)
class BuildSecret:
    """A secret a build may mount (``RUN --mount=type=secret,id=ID``): read from ``file`` or
    the environment variable ``env`` when the build asks for it, never written into the
    context or an image. ``source`` names where it was declared, for messages."""

    id: str
    source: str
    file: Path | None = None
    env: str | None = None


@dataclass(frozen=True)
class SshAgent:
    """An SSH agent a build may use (``RUN --mount=type=ssh,id=ID``): ``socket``, or None for
    the one ``SSH_AUTH_SOCK`` names when the build runs."""

    id: str
    socket: Path | None = None


@dataclass(frozen=True)
class ServiceConfig:
    """One service, with every path resolved against the project root.

    The fields after ``dockerfile_no_cache`` come from compose files (devd.toml leaves them at
    their defaults). ``build`` False: an image-only service, started once from ``image``.
    ``watch`` None: devd's own classification decides; a tuple: the compose rules do.
    """

    name: str
    context: Path
    dockerfile: Path
    target: str | None
    build_args: Mapping[str, str]
    ports: tuple[PortMapping, ...]
    environment: Mapping[str, str]
    env_file: Path | None
    command: tuple[str, ...] | None
    code_action: CodeAction
    stop_timeout: float
    dockerfile_no_cache: bool
    build: bool = True
    image: str | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str | None = None
    user: str | None = None
    init: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[Mount, ...] = ()
    depends_on: tuple[Dependency, ...] = ()
    healthcheck: Healthcheck | None = None
    watch: tuple[WatchRule, ...] | None = None
    builder: BuilderChoice = "auto"
    build_network: str | None = None  # the builder's network for RUN steps; None: its default
    dependency_action: DependencyAction = "rebuild"  # exec: re-run the install in the container
    stop_signal: str | None = None  # sent to stop the container; None: the image's (SIGTERM)
    container_name: str | None = None  # compose's container_name; None: <project>-<service>
    options: ContainerOptions = field(default_factory=ContainerOptions)
    secrets: tuple[BuildSecret, ...] = ()  # build secrets, by id (BuildKit only)
    ssh: tuple[SshAgent, ...] = ()  # SSH agents the build may use (BuildKit only)


@dataclass(frozen=True)
class ProjectConfig:
    """The project: where it is, what it is called, how devd watches it, and its services."""

    root: Path
    name: str
    source: str  # where the configuration came from, for messages
    log_format: LogFormat
    verbose: bool
    debounce_ms: int
    ignore: tuple[str, ...]
    services: Mapping[str, ServiceConfig]
    compose_file: Path | None = None  # the compose file the services came from, if any
    network: str | None = None  # compose: the project network every service joins
    volumes: tuple[str, ...] = ()  # compose: the named volumes the project creates
    external_volumes: tuple[ExternalVolume, ...] = ()  # compose: the ones it only mounts
    warnings: tuple[str, ...] = ()  # compose: keys devd ignores and the like, one line each
    sources: tuple[Path, ...] = ()  # compose: the files read (devd up reloads when one changes)
    compose_files: tuple[Path, ...] = ()  # compose: the files merged (override files...)
    inactive: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # service: profiles
    problems: tuple[str, ...] = ()  # compose: what stops devd up but not explain (env files)
    included: tuple[Path, ...] = ()  # compose: the files include: brought in


@dataclass(frozen=True)
class ComposeChoice:
    """The command line's say in which compose files and profiles count (``-f``,
    ``--profile``); empty: compose's own rules (``COMPOSE_FILE``, ``COMPOSE_PROFILES``...)."""

    files: tuple[Path, ...] = ()
    profiles: tuple[str, ...] = ()


def load(
    root: Path,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    compose: ComposeChoice | None = None,
) -> ProjectConfig:
    """Read, merge and validate every configuration source for the project at ``root``.

    ``overrides`` are the command-line flags (``None`` values are not given); ``environ``
    defaults to the process environment. Without ``services`` from any source, compose files
    supply them (the module docstring says how the two combine); its warnings are in
    ``ProjectConfig.warnings`` for the caller to show. ``compose`` holds ``-f`` and
    ``--profile``; compose files given with ``-f`` while devd's settings define services are
    an error.
    """
    root = root.resolve()
    environ = os.environ if environ is None else environ
    if not root.is_dir():
        raise ConfigError(f"{root}: the project directory does not exist or is not a directory")
    file_label, file_data = _project_file(root)
    defaults_path = shipped_config_dir() / "defaults.toml"
    defaults = _read_toml(defaults_path)
    cli = {key: value for key, value in (overrides or {}).items() if value is not None}
    env_data = _env_data(environ)
    labelled = [
        ("command line", cli),
        ("environment", env_data),
        (file_label, file_data),
        (str(defaults_path), defaults),
    ]
    try:
        settings = _settings_class([env_data, file_data, defaults])(**cli)
    except ValidationError as error:
        raise ConfigError(_describe(error, labelled)) from error
    name_source = _source_of(("project",), labelled) if settings.project else str(root)
    compose = compose or ComposeChoice()
    if settings.services and compose.files:
        raise ConfigError(
            f"-f: {file_label} defines services, which replace a compose file's; "
            "remove them there to run the compose files"
        )
    if not settings.services:
        composed = _compose_project(root, settings, name_source, environ, compose)
        if composed is not None:
            return composed
    return _project(root, settings, file_label, name_source)


def _env_data(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``DEVD_*`` variables of ``environ``, nested as pydantic-settings reads them."""
    try:
        return _read_env(environ)
    except SettingsError as error:
        raise ConfigError(_env_problem(environ) or f"environment: {error}") from error


def _read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    source = EnvSettingsSource(
        Settings, env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False
    )
    source.env_vars = {key.lower(): value for key, value in environ.items()}
    return source()


def _env_problem(environ: Mapping[str, str]) -> str | None:
    """Name the ``DEVD_*`` variable whose value does not parse as the JSON its key needs."""
    for key, value in environ.items():
        if not key.upper().startswith(ENV_PREFIX):
            continue
        try:
            _read_env({key: value})
        except SettingsError:
            dotted = ".".join(key[len(ENV_PREFIX) :].lower().split("__"))
            example = '["8000:8000"] or {"KEY": "VALUE"}'
            try:
                json.loads(value)
                detail = f"got {value!r}"
            except ValueError as error:
                detail = f"got {value!r} ({error})"
            return f"environment {key}: {dotted}: expected JSON such as {example}, {detail}"
    return None


def _settings_class(layers: Sequence[dict[str, Any]]) -> type[Settings]:
    """Settings whose sources are the flags, then ``layers`` (highest first)."""

    class Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            static = (InitSettingsSource(settings_cls, layer) for layer in layers)
            return (init_settings, *static)

    return Loaded


def _project_file(root: Path) -> tuple[str, dict[str, Any]]:
    """The project's own configuration: ``devd.toml``, else ``[tool.devd]`` of pyproject.toml."""
    config_file = root / CONFIG_FILE
    if config_file.is_file():
        return CONFIG_FILE, _read_toml(config_file)
    pyproject = root / PYPROJECT
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("devd")
        if table is not None:
            if not isinstance(table, dict):
                raise ConfigError(
                    f"{PYPROJECT}: tool.devd: expected a table, got {type(table).__name__}"
                )
            return f"{PYPROJECT} [tool.devd]", table
    return "(no devd.toml)", {}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path.name}: not valid TOML: {error}") from error
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from error


def _describe(error: ValidationError, labelled: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """One line (up to three problems), each naming the source, the key and what is expected."""
    lines = []
    for item in error.errors()[:3]:
        loc = item["loc"]
        key = _dotted(loc)
        source = _source_of(loc, labelled)
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key" + _known_keys(loc)
        elif (
            item["type"] != "value_error"
            and "input" in item
            and not isinstance(item["input"], dict)
        ):
            message = f"{message}, got {item['input']!r}"
        lines.append(f"{source}: {key}: {message}")
    return "; ".join(lines)


def _known_keys(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = ServiceSettings if len(loc) >= 3 and loc[0] == "services" else Settings
    return "; expected one of: " + ", ".join(model.model_fields)


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _source_of(
    loc: tuple[int | str, ...], labelled: Sequence[tuple[str, Mapping[str, Any]]]
) -> str:
    keys = [part for part in loc if isinstance(part, str)]
    for label, data in labelled:
        node: Any = data
        for key in keys:
            if not isinstance(node, Mapping) or key not in node:
                break
            node = node[key]
        else:
            if label == "environment":
                return f"environment {ENV_PREFIX}{'__'.join(keys).upper()}"
            return label
    return labelled[2][0]


def _project(root: Path, settings: Settings, source: str, name_source: str) -> ProjectConfig:
    name = settings.project or root.name
    services = settings.services or {DEFAULT_SERVICE: ServiceSettings()}
    return ProjectConfig(
        root=root,
        name=_project_name(name, name_source),
        source=source,
        log_format=settings.log_format,
        verbose=settings.verbose,
        debounce_ms=settings.debounce_ms,
        ignore=tuple(settings.ignore),
        services={
            key: _service(root, key, value, settings.builder, source)
            for key, value in services.items()
        },
    )


def _compose_project(
    root: Path,
    settings: Settings,
    name_source: str,
    environ: Mapping[str, str],
    choice: ComposeChoice,
) -> ProjectConfig | None:
    """The project as its compose files define it; None when there is none."""
    from devd import compose  # here, not at the top: devd.compose builds on this module's types

    name = _project_name(settings.project, name_source) if settings.project else None
    found = compose.load(root, environ, name, choice.files, choice.profiles)
    if found is None:
        return None
    return ProjectConfig(
        root=root,
        name=found.name,
        source=found.file.name,
        log_format=settings.log_format,
        verbose=settings.verbose,
        debounce_ms=settings.debounce_ms,
        ignore=tuple(settings.ignore),
        services={
            name: dataclasses.replace(service, builder=settings.builder)
            for name, service in found.services.items()
        },
        compose_file=found.file,
        network=found.network,
        volumes=found.volumes,
        external_volumes=found.external_volumes,
        warnings=found.warnings,
        sources=found.sources,
        compose_files=found.files,
        inactive=found.inactive,
        problems=found.problems,
        included=found.included,
    )


def _project_name(name: str, source: str) -> str:
    """A name usable in image tags and container names: lowercase letters, digits, '-', '_'."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")
    # A run of separators the engine's image names do not allow ("_-", "___") becomes "-".
    cleaned = image_safe_separators(cleaned)
    if not cleaned:
        raise ConfigError(
            f"{source}: project: {name!r} gives no usable name; expected letters or digits "
            f'(set project = "NAME" in {CONFIG_FILE})'
        )
    return cleaned


def image_safe_separators(name: str) -> str:
    """``name`` with each run of separators the engine's image names do not allow ("_-",
    "___") made "-", cut to the longest name devd allows."""
    return re.sub(r"[-_]+", lambda run: _separator(run.group()), name)[:_MAX_NAME].strip("-_")


def _separator(run: str) -> str:
    return run if run in ("_", "__") or set(run) == {"-"} else "-"


def _service(
    root: Path, name: str, settings: ServiceSettings, builder: BuilderChoice, source: str = ""
) -> ServiceConfig:
    context = (root / settings.context).resolve()
    command = settings.command
    if isinstance(command, str):
        command = shlex.split(command)
    return ServiceConfig(
        name=name,
        context=context,
        dockerfile=(context / settings.dockerfile).resolve(),
        target=settings.target,
        build_args=dict(settings.build_args),
        ports=tuple(_port(port) for port in settings.ports),
        environment=dict(settings.environment),
        env_file=(root / settings.env_file).resolve() if settings.env_file else None,
        command=tuple(command) if command is not None else None,
        code_action=settings.code_action,
        stop_timeout=settings.stop_timeout,
        dockerfile_no_cache=settings.dockerfile_no_cache,
        stop_signal=settings.stop_signal,
        builder=settings.builder or builder,
        build_network=settings.build_network,
        dependency_action=settings.dependency_action,
        secrets=tuple(
            BuildSecret(
                ident,
                f"{source}: services.{name}.secrets.{ident}",
                file=(root / os.path.expanduser(value.file)).resolve() if value.file else None,
                env=value.env,
            )
            for ident, value in settings.secrets.items()
        ),
        ssh=tuple(ssh_agent(entry, root) for entry in settings.ssh),
    )


def _port(text: str) -> PortMapping:
    match = _PORT.match(text)
    assert match is not None  # validated by ServiceSettings
    return PortMapping(
        int(match["host"]), int(match["container"]), match["proto"] or "tcp", match["ip"]
    )
