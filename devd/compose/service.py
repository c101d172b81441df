"""One compose service as a :class:`ServiceConfig`: build, image, run options, volumes,
healthcheck, dependencies and watch rules, translated as compose reads them. Pure: env files
are read through the :class:`Context`'s reader."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast, get_args

from devd.compose.buildsecrets import build_secrets, build_ssh
from devd.compose.container import OPTIONS, container_name, options
from devd.compose.files import parse_env_file
from devd.compose.health import healthcheck
from devd.compose.ports import ports
from devd.compose.values import (
    Key,
    Warnings,
    boolean,
    check_keys,
    command,
    duration,
    key_values,
    labels,
    mapping,
    string,
    string_or_list,
)
from devd.compose.volumes import MountContext, mounts
from devd.compose.watch import develop
from devd.config import (
    BuildSecret,
    Dependency,
    DependencyCondition,
    ServiceConfig,
    SshAgent,
)
from devd.core.imagename import reference_problem
from devd.core.signals import signal_problem

SUPPORTED = frozenset({
    "build", "image", "ports", "environment", "env_file", "command", "entrypoint", "volumes",
    "depends_on", "healthcheck", "init", "stop_grace_period", "labels", "working_dir", "user",
    "develop", "networks", "stop_signal", "restart", "profiles", "container_name", "tty",
    "stdin_open", *OPTIONS,
})  # fmt: skip
# The rest of compose-spec's service keys: accepted by compose, not acted on by devd.
KNOWN = frozenset({
    "annotations", "attach", "blkio_config", "cgroup", "cgroup_parent", "configs", "cpu_count",
    "cpu_percent", "cpu_shares", "cpu_quota", "cpu_period", "cpu_rt_period", "cpu_rt_runtime",
    "cpus", "cpuset", "credential_spec", "deploy", "device_cgroup_rules", "devices", "dns",
    "dns_opt", "dns_search", "domainname", "expose", "extends", "external_links", "gpus",
    "group_add", "hostname", "ipc", "isolation", "label_file", "links", "logging", "mac_address",
    "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit", "models", "network_mode",
    "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "post_start", "pre_stop",
    "privileged", "provider", "pull_policy", "pull_refresh_after", "runtime", "scale", "secrets",
    "security_opt", "storage_opt", "sysctls", "tmpfs", "use_api_socket", "userns_mode", "uts",
    "volumes_from",
})  # fmt: skip
_BUILD_SUPPORTED = frozenset({
    "context", "dockerfile", "args", "target", "network", "secrets", "ssh",
})  # fmt: skip
_BUILD_KNOWN = frozenset({
    "additional_contexts", "cache_from", "cache_to", "dockerfile_inline", "entitlements",
    "extra_hosts", "isolation", "labels", "no_cache", "platforms", "privileged",
    "provenance", "pull", "sbom", "shm_size", "tags", "ulimits",
})  # fmt: skip
_CONDITIONS = get_args(DependencyCondition)


@dataclass(frozen=True)
class Context:
    """What translating a service needs besides its own YAML."""

    key: Key  # services (its children name the file each service came from)
    root: Path  # the project root
    mounts: MountContext  # the compose directory, home, declared volumes
    environ: Mapping[str, str]  # the process environment over .env
    read_env_file: Callable[[Path], str | None]  # an env file's text, None when missing
    secrets: Mapping[str, Any] = field(default_factory=dict)  # the top-level secrets:
    secrets_key: Key | None = None  # where they are


@dataclass(frozen=True)
class _Build:
    """The build half of a service (``build`` False: image-only, context the compose dir)."""

    context: Path
    dockerfile: Path
    target: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    build: bool = True
    image: str | None = None
    network: str | None = None
    secrets: tuple[BuildSecret, ...] = ()
    ssh: tuple[SshAgent, ...] = ()


def service(name: str, value: Any, context: Context, warnings: Warnings) -> ServiceConfig:
    key = context.key.child(name)
    node = mapping({} if value is None else value, key)
    check_keys(node, key, SUPPORTED, KNOWN, warnings)
    _networks(node, key, warnings)
    built = _build(node, key, context, warnings)

    def optional(name: str, read: Callable[[Any, Key], Any]) -> Any:
        return read(node[name], key.child(name)) if node.get(name) is not None else None

    stop = optional("stop_grace_period", duration)
    _restart(node, key, warnings)
    _terminal(node, key, warnings)
    places = (context.mounts.directory, context.root)
    return ServiceConfig(
        name=name,
        context=built.context,
        dockerfile=built.dockerfile,
        target=built.target,
        build_args=built.args,
        build_network=built.network,
        secrets=built.secrets,
        ssh=built.ssh,
        ports=ports(node.get("ports") or [], key.child("ports"), warnings),
        environment=_environment(node, key, context, warnings),
        env_file=None,
        command=optional("command", command),
        entrypoint=optional("entrypoint", command),
        code_action="rebuild",
        stop_timeout=10.0 if stop is None else stop,
        stop_signal=optional("stop_signal", _stop_signal),
        container_name=optional("container_name", container_name),
        options=options(node, key),
        dockerfile_no_cache=False,
        build=built.build,
        image=built.image,
        working_dir=optional("working_dir", string),
        user=optional("user", string),
        init=bool(optional("init", boolean)),
        labels=labels(node.get("labels") or {}, key.child("labels")),
        volumes=mounts(node.get("volumes") or [], key.child("volumes"), context.mounts, warnings),
        depends_on=_depends_on(node.get("depends_on") or [], key.child("depends_on"), warnings),
        healthcheck=optional("healthcheck", lambda v, k: healthcheck(v, k, warnings)),
        watch=optional("develop", lambda v, k: develop(v, k, places, warnings)),
    )


def _build(node: Mapping[str, Any], key: Key, context: Context, warnings: Warnings) -> _Build:
    """``build`` (a context string or a mapping) and ``image``."""
    directory = context.mounts.directory
    image = _image(node["image"], key.child("image")) if "image" in node else None
    if "build" not in node:
        if image is None:
            raise key.problem("expected build or image (a service needs one of them)")
        return _Build(directory, directory / "Dockerfile", build=False, image=image)
    where = key.child("build")
    build = node["build"]
    spec = {"context": build} if isinstance(build, str) else mapping(build, where)
    check_keys(spec, where, _BUILD_SUPPORTED, _BUILD_KNOWN, warnings)
    context_text = string(spec.get("context", "."), where.child("context"))
    if "://" in context_text or context_text.startswith("git@"):
        raise where.child("context").error("a local directory (devd watches it)", context_text)
    build_context = (directory / context_text).resolve()
    dockerfile = string(spec.get("dockerfile", "Dockerfile"), where.child("dockerfile"))
    target = spec.get("target")
    network = spec.get("network")
    return _Build(
        context=build_context,
        dockerfile=(build_context / dockerfile).resolve(),
        target=string(target, where.child("target")) if target is not None else None,
        args=key_values(spec.get("args", {}), where.child("args"), context.environ),
        image=image,
        network=string(network, where.child("network")) if network is not None else None,
        secrets=_secrets(spec, where, context),
        ssh=build_ssh(spec["ssh"], where.child("ssh"), directory) if spec.get("ssh") else (),
    )


def _secrets(spec: Mapping[str, Any], where: Key, context: Context) -> tuple[BuildSecret, ...]:
    if not spec.get("secrets"):
        return ()
    top = context.secrets_key or Key(where.file, "secrets")
    return build_secrets(
        spec["secrets"], where.child("secrets"), context.secrets, top, context.mounts.directory
    )


def _stop_signal(value: Any, key: Key) -> str:
    """``stop_signal``: what the engine sends to stop the container (then SIGKILL after
    ``stop_grace_period``), checked here rather than at the first stop."""
    text = string(value, key)
    problem = signal_problem(text)
    if problem is not None:
        raise key.problem(problem)
    return text


def _restart(node: Mapping[str, Any], key: Key, warnings: Warnings) -> None:
    """``restart``: ``"no"`` is what devd does anyway (a container that exits is reported and
    left stopped); any other policy is one warning."""
    value = node.get("restart")
    if value is None or string(value, key.child("restart")) == "no":
        return
    warnings.unsupported(
        key.child("restart"),
        f"devd applies no restart policy ({value!r}): a container that exits is reported "
        "and left stopped until the next save or devd rebuild",
    )


def _terminal(node: Mapping[str, Any], key: Key, warnings: Warnings) -> None:
    """``tty`` and ``stdin_open``: devd prints the container's output itself and keeps no
    terminal or stdin attached, so either set to true is one warning."""
    for name in ("tty", "stdin_open"):
        if node.get(name) is not None and boolean(node[name], key.child(name)):
            warnings.unsupported(
                key.child(name),
                "devd prints the container's output itself and attaches no terminal or stdin "
                "(to use a debugger, run it under docker compose)",
            )


def _image(value: Any, key: Key) -> str:
    """``image``: a reference the engine accepts (checked here, not at the first run)."""
    text = string(value, key)
    problem = reference_problem(text)
    if problem is not None:
        raise key.problem(f"{problem}: {text!r} (e.g. postgres:16 or registry.local/app:dev)")
    return text


def _environment(
    node: Mapping[str, Any], key: Key, context: Context, warnings: Warnings
) -> dict[str, str]:
    """``env_file`` values, with ``environment`` over them."""
    section = key_values(node.get("environment") or {}, key.child("environment"), context.environ)
    return {**_env_files(node, key, context, section, warnings), **section}


def _env_files(
    node: Mapping[str, Any],
    key: Key,
    context: Context,
    section: Mapping[str, str],
    warnings: Warnings,
) -> dict[str, str]:
    """``env_file`` (one or a list, each a path or ``{path, required}``), merged in order; the
    service's ``environment`` (``section``, which their ``${VAR}`` see) goes over the result."""
    merged: dict[str, str] = {}
    if node.get("env_file") is None:
        return merged
    where = key.child("env_file")
    for index, entry in enumerate(string_or_list(node["env_file"], where)):
        item = where.item(index) if isinstance(node["env_file"], list) else where
        required = True
        if isinstance(entry, Mapping):
            spec = mapping(entry, item)
            required = boolean(spec.get("required", True), item.child("required"))
            entry = spec.get("path")
            item = item.child("path")
        path = (context.mounts.directory / string(entry, item)).resolve()
        text = context.read_env_file(path)
        if text is None:
            if required:
                warnings.problem(f"{item}: env file {path} does not exist; create it or remove it")
            continue
        merged.update(parse_env_file(text, str(path), context.environ, warnings, section, merged))
    return merged


def _depends_on(value: Any, key: Key, warnings: Warnings) -> tuple[Dependency, ...]:
    if isinstance(value, list):
        return tuple(Dependency(string(item, key.item(i))) for i, item in enumerate(value))
    result = []
    for name, spec in mapping(value, key).items():
        where = key.child(name)
        spec = mapping({} if spec is None else spec, where)
        check_keys(
            spec, where, frozenset({"condition", "required"}), frozenset({"restart"}), warnings
        )
        condition = string(spec.get("condition", "service_started"), where.child("condition"))
        if condition not in _CONDITIONS:
            raise where.child("condition").error(" | ".join(_CONDITIONS), condition)
        required = boolean(spec.get("required", True), where.child("required"))
        result.append(Dependency(name, cast(DependencyCondition, condition), required))
    return tuple(result)


def _networks(node: Mapping[str, Any], key: Key, warnings: Warnings) -> None:
    """Every service joins the project's one network: ``networks: [default]`` is fine, any
    other network is warned about."""
    value = node.get("networks")
    if value is None:
        return
    names = value if isinstance(value, list) else list(mapping(value, key.child("networks")))
    extra = [name for name in names if name != "default"]
    settings = value.get("default") if isinstance(value, Mapping) else None
    if extra or settings:
        warnings.unsupported(key.child("networks"), "devd runs one network per project")
