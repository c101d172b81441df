"""An Engine-shaped view of a fake engine written as one flat object under the adapter's old
method names (``replace_container`` for ``engine.containers.replace``...), for the daemon
tests whose fakes predate the engine's split into clients. The daemon's rework gives those
tests typed fakes of their own; until then the view maps each old name to its client."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

RENAMES = {
    "containers": "containers.of_project",
    "container": "containers.get",
    "replace_container": "containers.replace",
    "start_container": "containers.start",
    "stop_container": "containers.stop",
    "remove_container": "containers.remove",
    "restart_container": "containers.restart",
    "wait_container": "containers.wait",
    "path_stat": "files.stat",
    "path_in": "files.exists",
    "put_files": "files.put",
    "exec_in": "execs.run",
    "run_step": "execs.run_step",
    "image_defaults": "execs.image_defaults",
    "follow_logs": "logs.follow",
    "tail_logs": "logs.tail",
    "images": "images.of_project",
    "remove_project_images": "images.remove_project",
    "remove_superseded_images": "images.remove_superseded",
    "remove_failed_build_images": "images.remove_failed_build",
    "image_id": "images.id_of",
    "pull_image": "images.pull",
    "tag_image": "images.tag",
    "ensure_network": "resources.ensure_network",
    "ensure_volume": "resources.ensure_volume",
    "volume_exists": "resources.volume_exists",
    "project_networks": "resources.networks",
    "project_volumes": "resources.volumes",
    "remove_project_networks": "resources.remove_networks",
    "remove_project_volumes": "resources.remove_volumes",
    "anchor_stops": "anchors.stops",
    "close_anchor_stops": "anchors.close_stops",
    "stopped_anchor": "anchors.stopped",
    "stop_anchors": "anchors.stop_all",
    "remove_anchors": "anchors.remove",
    "build": "builds.build",
    "builder": "builds.builder",
    "major_version": "transport.major_version",
    "unreachable": "transport.unreachable",
}
CLIENTS = ("transport", "builds", "containers", "anchors", "files", "execs", "logs", "images")
CLIENTS += ("resources",)


class EngineView:
    """``flat``'s methods as the clients of :class:`devd.engine.engine.Engine`; any other
    attribute is ``flat``'s own."""

    def __init__(self, flat: Any) -> None:
        self.flat = flat
        clients = {name: SimpleNamespace() for name in CLIENTS}
        for old, new in RENAMES.items():
            if callable(getattr(type(flat), old, None)):
                client, method = new.split(".")
                setattr(clients[client], method, getattr(flat, old))
        self.__dict__.update(clients)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.flat, name)
