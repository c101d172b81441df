"""Live configuration: a changed devd.toml, pyproject.toml, compose file or ``.env`` is read
again and only the services that changed are touched (added, reconfigured and recreated, or
retired); an invalid configuration is reported and the services go on as they were.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from devd.compose.files import COMPOSE_FILES, DOTENV, OVERRIDE_FILES
from devd.config import ProjectConfig
from devd.core.plan import manual
from devd.daemon import stack
from devd.daemon.worker import Worker
from devd.errors import DevdError, EngineUnavailable
from devd.project import service_view

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


class LiveReload(Worker):
    """Applies a changed configuration; ``loader`` re-reads it (None: no reload)."""

    loader: Callable[[], ProjectConfig] | None

    def _config_paths(self) -> frozenset[str]:
        return config_paths(self.project)

    def reload_configuration(self) -> None:
        """Apply a changed devd.toml / [tool.devd]: only the services that changed are touched.

        An invalid configuration is reported and the services go on as they were.
        """
        new = self._read_again()
        if new is None:
            return
        old, self.project = self.project, new
        for warning in new.warnings:
            if warning not in old.warnings:
                self.out.warning(warning)
        removed, added, changed = _service_changes(old, new)
        for name in removed:
            self._retire(name)
        if changed or added:
            self._reload_resources()
        for name in changed:  # the ignore rules alone only change what is watched
            self._reconfigure(name, recreate=old.services[name] != new.services[name])
        for name in added:
            self._add(name)
        if removed or changed or added:
            self.out.info("configuration reloaded", added=added, changed=changed, removed=removed)

    def _read_again(self) -> ProjectConfig | None:
        """The configuration read again, under the running project's name; None (said why)
        when it is invalid, names an external volume that does not exist (a container mounting
        it would have the engine create it, unlabelled), or renames a compose project."""
        assert self.loader is not None
        try:
            new = self.loader()
            stack.check_external_volumes(new, self.engine.resources.volume_exists)
        except EngineUnavailable as error:  # not the configuration's fault: say so
            self.engine_watch.check()
            self.out.error(
                "configuration not applied: its external volumes cannot be checked while the "
                "engine does not answer; save it again once the engine is back",
                error=str(error),
            )
            return None
        except DevdError as error:
            self.out.error("configuration invalid; services go on unchanged", error=str(error))
            return None
        if new.name != self.project.name and new.compose_file is not None:
            # compose names the network and volumes after the project: nothing half-applied
            self.out.warning(NEW_COMPOSE_NAME, name=new.name)
            return None
        if new.name != self.project.name:
            self.out.warning("a new project name takes effect at the next devd up", name=new.name)
            new = replace(new, name=self.project.name)
        return new

    def _reload_resources(self) -> None:
        """Create the network and volumes a reloaded configuration names (existing ones are
        kept); a failure is reported and the services' own starts say what it stops."""
        try:
            self.prepare_resources()
        except DevdError as error:
            self.engine_watch.check()
            self.out.error("could not create the project's network or volumes", error=str(error))

    def _add(self, name: str) -> None:
        try:
            runtime = self.prepare(name)
        except DevdError as error:
            self.out.error("service not started", service=name, error=str(error))
            return
        self._spawn(f"worker-{name}", partial(self._worker, runtime))
        self._submit(runtime, manual(no_cache=False, now=time.monotonic(), label="service added"))

    def _reconfigure(self, name: str, recreate: bool) -> None:
        runtime = self.services[name]
        service = self.project.services[name]
        try:
            view = service_view(self.project, service)
        except DevdError as error:
            self.out.error("service keeps its old configuration", service=name, error=str(error))
            return
        with runtime.cond:
            runtime.config, runtime.view = service, view
        if not recreate:
            return
        work = manual(False, time.monotonic(), label="configuration changed", recreate=True)
        self._submit(runtime, work)

    def _retire(self, name: str) -> None:
        runtime = self.services.pop(name)
        with runtime.cond:
            runtime.retired = True
            runtime.cond.notify_all()
        with self._replace_lock:
            container = runtime.container
            if container is not None:
                runtime.retiring.add(container.id)
                try:
                    self.engine.containers.stop(container.id, runtime.config.stop_timeout)
                    self.engine.containers.remove(container.id)
                except DevdError as error:  # the engine gone, say: devd up goes on
                    self.engine_watch.check()
                    self.out.error("could not remove the service's container", error=str(error))
            try:  # made before its container: there may be one though no container is
                self.engine.anchors.remove(self.project.name, name)
            except DevdError as error:
                self.engine_watch.check()
                self.out.error("could not remove the service's anchor", error=str(error))
        self.out.info("service removed", service=name)


def _service_changes(
    old: ProjectConfig, new: ProjectConfig
) -> tuple[list[str], list[str], list[str]]:
    """The services removed, added, and changed (their settings, or the ignore rules)."""
    removed = [name for name in old.services if name not in new.services]
    added = [name for name in new.services if name not in old.services]
    changed = [
        name
        for name in new.services
        if name in old.services
        and (old.services[name] != new.services[name] or old.ignore != new.ignore)
    ]
    return removed, added, changed
