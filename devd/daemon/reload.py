"""Live configuration: a changed devd.toml, pyproject.toml, compose file or ``.env`` is read
again (:func:`read_again`); what it changes is a pure diff (:mod:`devd.core.configdiff`),
which the supervisor (:mod:`devd.daemon.supervisor`) applies: only the services that changed
are touched (added, reconfigured and recreated, or retired); an invalid configuration is
reported and the services go on as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from devd.compose.files import COMPOSE_FILES, DOTENV, OVERRIDE_FILES
from devd.config import ProjectConfig
from devd.daemon import stack
from devd.daemon.ports import EngineState, Reporter, ResourceClient
from devd.errors import DevdError, EngineUnavailable

CONFIG_FILES = frozenset({"devd.toml", "pyproject.toml", *COMPOSE_FILES, *OVERRIDE_FILES, DOTENV})
NEW_COMPOSE_NAME = "a new project name takes effect at the next devd up; the change waits for it"


def config_paths(project: ProjectConfig) -> frozenset[str]:
    """The project-relative paths whose change reloads the configuration: devd.toml,
    pyproject.toml, the compose files (and override files) by name and ``.env``, and the
    compose files, ``.env`` and env files the configuration read."""
    root = project.root
    read = {
        path.relative_to(root).as_posix() for path in project.sources if path.is_relative_to(root)
    }
    return CONFIG_FILES | read


def read_again(
    loader: Callable[[], ProjectConfig],
    running: ProjectConfig,
    resources: ResourceClient,
    watch: EngineState,
    out: Reporter,
) -> ProjectConfig | None:
    """The configuration read again, under the ``running`` project's name; None (said why)
    when it is invalid, names an external volume that does not exist (a container mounting
    it would have the engine create it, unlabelled), or renames a compose project."""
    try:
        new = loader()
        stack.check_external_volumes(new, resources.volume_exists)
    except EngineUnavailable as error:  # not the configuration's fault: say so
        watch.check()
        out.error(
            "configuration not applied: its external volumes cannot be checked while the "
            "engine does not answer; save it again once the engine is back",
            error=str(error),
        )
        return None
    except DevdError as error:
        out.error("configuration invalid; services go on unchanged", error=str(error))
        return None
    if new.name != running.name and new.compose_file is not None:
        # compose names the network and volumes after the project: nothing half-applied
        out.warning(NEW_COMPOSE_NAME, name=new.name)
        return None
    if new.name != running.name:
        out.warning("a new project name takes effect at the next devd up", name=new.name)
        new = replace(new, name=running.name)
    return new
