"""Compose files read into one tree, as compose reads them: each file parsed, its ``!reset`` /
``!override`` tags found, interpolated under its own name, its ``include:`` loaded, then merged
over the files before it (:mod:`devd.compose.merge`).

An ``include`` item (a path, or ``path`` / ``project_directory`` / ``env_file``) is read as a
project of its own: its files (relative to the including project's directory) merged, their
relative paths (build contexts, bind sources, env files, watch paths) made absolute from its
project directory (the first file's, by default), its ``.env`` under the including project's
variables; its services, volumes and networks then join the including file's. One the
including file defines too is an error, as in compose, and so is an include cycle. Pure:
files are read through the functions given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devd.compose.files import DOTENV, parse_yaml
from devd.compose.interpolate import interpolate
from devd.compose.merge import TreePath, merge_files, strip_tags
from devd.compose.values import Key, Warnings, mapping, string, string_or_list

_RESOURCES = ("services", "volumes", "networks", "secrets", "configs", "models")
_INCLUDE_KEYS = frozenset({"path", "project_directory", "env_file"})


@dataclass
class Reader:
    """Reads compose files for one project: ``read_file`` gives a file's text,
    ``read_dotenv`` a ``.env``'s variables (None when there is none)."""

    root: Path
    read_file: Callable[[Path, str], str]
    read_dotenv: Callable[[Path, Mapping[str, str]], dict[str, str] | None]
    warnings: Warnings
    read: list[Path] = field(default_factory=list)  # every file read, in order
    included: list[Path] = field(default_factory=list)  # the compose files include: named
    origins: dict[str, list[str]] = field(default_factory=dict)  # key path: files that set it

    def model(
        self, files: Sequence[Path], environ: Mapping[str, str]
    ) -> tuple[Mapping[str, Any], Key]:
        """``files`` merged, first to last; the key of the whole, whose children name the
        file(s) each value came from."""
        trees = [self._file(path, files[0].parent, environ, ()) for path in files]
        labels = [label for _, _, label in trees]
        origins = {path: " + ".join(dict.fromkeys(names)) for path, names in self.origins.items()}
        top = Key(" + ".join(labels), "", origins)
        return mapping(merge_files(trees), top), top

    def label(self, path: Path) -> str:
        """A file as messages name it: relative to the project root when inside it."""
        root = self.root
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)

    def _file(
        self, path: Path, directory: Path, environ: Mapping[str, str], stack: tuple[Path, ...]
    ) -> tuple[Any, list[TreePath], str]:
        """One file read, interpolated, with its includes under it; ``directory`` is where its
        includes' paths start (its project's directory)."""
        label = self.label(path)
        self.read.append(path)
        tree, resets = strip_tags(parse_yaml(self.read_file(path, label), label))
        tree = interpolate(tree, environ, Key(label), self.warnings)
        for where in _key_paths(tree):
            self.origins.setdefault(where, []).append(label)
        if not isinstance(tree, Mapping) or tree.get("include") is None:
            return tree, resets, label
        tree = dict(tree)
        key = Key(label).child("include")
        items = tree.pop("include")
        if not isinstance(items, list):
            raise key.error("a list of files to include", items)
        imported: dict[str, Any] = {}
        for index, item in enumerate(items):
            resources = self._include(item, key.item(index), directory, environ, (*stack, path))
            imported = merge_files([(imported, [], label), (resources, [], label)])
        _no_conflicts(tree, imported, label)
        return merge_files([(imported, [], label), (tree, resets, label)]), resets, label

    def _include(
        self,
        item: Any,
        key: Key,
        directory: Path,
        environ: Mapping[str, str],
        stack: tuple[Path, ...],
    ) -> dict[str, Any]:
        """The resources of one ``include`` item, their relative paths made absolute."""
        spec = mapping({"path": item} if isinstance(item, str) else item, key)
        unknown = sorted(set(spec) - _INCLUDE_KEYS)
        if unknown:
            raise key.child(unknown[0]).problem("unknown key; an include has path, "
                                                "project_directory and env_file")  # fmt: skip
        if "path" not in spec:
            raise key.problem("path is missing")
        paths = [
            (directory / string(p, key.child("path"))).resolve()
            for p in string_or_list(spec["path"], key.child("path"))
        ]
        for path in paths:
            if path in stack:
                chain = " -> ".join(self.label(p) for p in (*stack, path))
                raise key.problem(f"include cycle: {chain}")
            if not path.is_file():
                raise key.child("path").problem(f"included file {path} does not exist")
        given = spec.get("project_directory")
        own = (
            (directory / string(given, key.child("project_directory"))).resolve()
            if given
            else paths[0].parent
        )
        variables = dict(environ)
        for env_file in self._env_files(spec, key, directory, own):
            self.read.append(env_file)
            found = self.read_dotenv(env_file, environ) or {}
            variables = {**found, **variables}  # the including project's variables win
        self.included.extend(paths)
        trees = [self._file(path, own, variables, stack) for path in paths]
        imported = absolute(merge_files(trees), own)
        return {name: imported[name] for name in _RESOURCES if name in imported}

    def _env_files(
        self, spec: Mapping[str, Any], key: Key, directory: Path, own: Path
    ) -> list[Path]:
        if spec.get("env_file") is None:
            return [own / DOTENV]
        where = key.child("env_file")
        return [
            (directory / string(p, where)).resolve()
            for p in string_or_list(spec["env_file"], where)
        ]


def _no_conflicts(tree: Mapping[str, Any], imported: Mapping[str, Any], label: str) -> None:
    """A resource the including file defines must not be one an included file defines too
    (compose refuses it: "services.db conflicts with imported resource")."""
    for kind in _RESOURCES:
        own, theirs = tree.get(kind), imported.get(kind)
        if isinstance(own, Mapping) and isinstance(theirs, Mapping):
            for name in own:
                if name in theirs:
                    raise (
                        Key(label)
                        .child(kind)
                        .child(name)
                        .problem(
                            "conflicts with the one an included file defines (as compose says); "
                            "rename one, or change it in the included file"
                        )
                    )


def _key_paths(tree: Any) -> list[str]:
    """The top-level keys of a file and the keys of its services, as dotted paths."""
    if not isinstance(tree, Mapping):
        return []
    paths = [str(name) for name in tree]
    services = tree.get("services")
    for name, body in services.items() if isinstance(services, Mapping) else ():
        paths.append(f"services.{name}")
        if isinstance(body, Mapping):
            paths.extend(f"services.{name}.{key}" for key in body)
    return paths


def absolute(tree: dict[str, Any], directory: Path) -> dict[str, Any]:
    """``tree`` (an included project) with the relative paths devd reads made absolute from
    ``directory``: build contexts, bind mount sources, env files, develop.watch paths."""
    services = tree.get("services")
    if not isinstance(services, Mapping):
        return tree
    resolved = {}
    for name, body in services.items():
        resolved[name] = (
            _service_paths(dict(body), directory) if isinstance(body, Mapping) else body
        )
    return {**tree, "services": resolved}


def _service_paths(body: dict[str, Any], directory: Path) -> dict[str, Any]:
    def place(text: Any) -> Any:
        if not isinstance(text, str) or "://" in text or text.startswith(("git@", "/", "~")):
            return text
        return str((directory / text).resolve())

    build = body.get("build")
    if isinstance(build, str) or (build is not None and not isinstance(build, Mapping)):
        body["build"] = place(build)
    elif isinstance(build, Mapping):
        body["build"] = {**build, "context": place(build.get("context", "."))}
    env_file = body.get("env_file")
    if env_file is not None:
        entries = env_file if isinstance(env_file, list) else [env_file]
        body["env_file"] = [
            {**entry, "path": place(entry.get("path"))}
            if isinstance(entry, Mapping)
            else place(entry)
            for entry in entries
        ]
    if isinstance(body.get("volumes"), list):
        body["volumes"] = [_volume(entry, place) for entry in body["volumes"]]
    develop = body.get("develop")
    if isinstance(develop, Mapping) and isinstance(develop.get("watch"), list):
        rules = [{**rule, "path": place(rule.get("path"))} if isinstance(rule, Mapping) else rule
                 for rule in develop["watch"]]  # fmt: skip
        body["develop"] = {**develop, "watch": rules}
    return body


def _volume(entry: Any, place: Callable[[Any], Any]) -> Any:
    if isinstance(entry, str):
        source, colon, rest = entry.partition(":")
        return f"{place(source)}:{rest}" if colon and source.startswith(".") else entry
    if isinstance(entry, Mapping) and entry.get("type") == "bind":
        return {**entry, "source": place(entry.get("source"))}
    return entry
