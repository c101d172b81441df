"""develop.watch rules (devd.rules): compose's matching and planning, without an engine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from devd.config import ExecHook, Mount, ServiceConfig, WatchRule
from devd.core.classify import BuildView, Kind
from devd.core.plan import Action, Work
from devd.core.rules import (
    explain,
    initial_sync,
    matches,
    plan_batch,
    plan_early,
    prunable,
    relevant,
)
from devd.project import service_view
from tests.stackdriver import project, service

DOCKERFILE = "FROM devd-busybox:latest\nCOPY . /app\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / ".dockerignore").write_text("**/*.log\nsecret/\n")
    return tmp_path


def view_of(root: Path, svc: ServiceConfig) -> BuildView:
    return service_view(project(root, "p", svc), svc)


def ruled(root: Path, *rules: WatchRule, **fields: object) -> tuple[ServiceConfig, BuildView]:
    svc = service("app", root, watch=rules, **fields)
    return svc, view_of(root, svc)


def test_sync_maps_the_path_below_the_rule_under_target(root: Path) -> None:
    """A sync rule puts src/a/b.py at <target>/a/b.py; a path outside the rule is no match."""
    svc, view = ruled(root, WatchRule("sync", "src", target="/app/src"))
    [found] = matches("src/a/b.py", svc, view, str(root))
    assert found.container_path == "/app/src/a/b.py"
    assert matches("srcx/b.py", svc, view, str(root)) == []
    assert matches("other/b.py", svc, view, str(root)) == []


def test_a_rule_on_a_file_syncs_it_to_target_itself(root: Path) -> None:
    """path naming one file: the file itself goes to target."""
    svc, view = ruled(root, WatchRule("sync", "conf/app.ini", target="/etc/app.ini"))
    [found] = matches("conf/app.ini", svc, view, str(root))
    assert found.container_path == "/etc/app.ini"


def test_ignore_patterns_are_relative_to_the_rule_path(root: Path) -> None:
    """ignore: node_modules/ under the rule's path excludes everything below it."""
    svc, view = ruled(
        root, WatchRule("sync", "web", target="/w", ignore=("node_modules/", "*.tmpl"))
    )
    assert matches("web/node_modules/x/y.js", svc, view, str(root)) == []
    assert matches("web/page.tmpl", svc, view, str(root)) == []
    assert matches("web/page.html", svc, view, str(root)) != []


def test_include_keeps_only_what_it_matches(root: Path) -> None:
    """include: only paths the patterns match (relative to the rule's path) count."""
    svc, view = ruled(root, WatchRule("sync", "web", target="/w", include=("*.html",)))
    assert matches("web/index.html", svc, view, str(root)) != []
    assert matches("web/index.css", svc, view, str(root)) == []


def test_the_build_contexts_dockerignore_and_devds_ignore_list_apply(root: Path) -> None:
    """What .dockerignore excludes, and editor temp files, never match a rule."""
    svc, view = ruled(root, WatchRule("sync", "", target="/app"))
    assert matches("debug.log", svc, view, str(root)) == []
    assert matches("secret/key", svc, view, str(root)) == []
    assert matches("src/.main.py.swp", svc, view, str(root)) == []
    assert matches("src/main.py", svc, view, str(root)) != []


def test_every_matching_rule_applies_and_rebuild_wins(root: Path) -> None:
    """Two rules matching one batch: the sync is kept, and a rebuild match makes it a rebuild
    (compose applies all matches, rebuild first)."""
    rules = (WatchRule("sync", "src", target="/app/src"), WatchRule("rebuild", "src/deps"))
    svc, view = ruled(root, *rules)
    work = plan_batch(["src/main.py"], svc, view, str(root), now=1.0)
    assert work.action is Action.SYNC
    assert work.syncs == {"/app/src/main.py": "src/main.py"}
    work = plan_batch(["src/main.py", "src/deps/req.txt"], svc, view, str(root), now=1.0)
    assert work.action is Action.REBUILD
    assert work.changes["src/deps/req.txt"].kind is Kind.DEPENDENCY


def test_restart_and_sync_restart_restart_and_exec_runs_once(root: Path) -> None:
    """restart alone restarts without files; sync+exec syncs then runs its command once for
    a batch of many files."""
    rules = (
        WatchRule("restart", "conf"),
        WatchRule("sync+exec", "hooks", target="/h", exec_hook=ExecHook(("sh", "-c", "run"))),
    )
    svc, view = ruled(root, *rules)
    restart = plan_batch(["conf/a.ini"], svc, view, str(root), now=None)
    assert restart.action is Action.SYNC_RESTART
    assert restart.sync_files() == {}
    execs = plan_batch(["hooks/a", "hooks/b"], svc, view, str(root), now=None)
    assert execs.action is Action.SYNC
    assert execs.execs == (ExecHook(("sh", "-c", "run")),)
    assert execs.sync_files() == {"/h/a": "hooks/a", "/h/b": "hooks/b"}
    merged = restart.merge(execs).merge(execs)
    assert merged.action is Action.SYNC_RESTART
    assert merged.execs == (ExecHook(("sh", "-c", "run")),)


def test_no_rule_matching_is_no_work_and_explained(root: Path) -> None:
    """A path no rule matches is ignored, and explain says so; one that matches names the
    rule, its action and the target."""
    svc, view = ruled(root, WatchRule("sync", "src", target="/app/src"))
    assert plan_batch(["README.md"], svc, view, str(root), now=None).empty
    assert explain("README.md", svc, view, str(root)).kind is Kind.IGNORED
    said = explain("src/x.py", svc, view, str(root))
    assert said.kind is Kind.CODE
    assert "develop.watch[0] sync" in said.reason
    assert said.destination == "/app/src/x.py"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("README.md", "matched by no develop.watch rule"),
        ("web/.page.html.swp", "excluded by devd's ignore list: pattern '**/*.swp': "
         "develop.watch[0] sync (path web) leaves it out"),
        ("web/debug.log", "excluded by .dockerignore: pattern '**/*.log': "
         "develop.watch[0] sync (path web) leaves it out"),
        ("web/node_modules/x.js", "excluded by its ignore pattern 'node_modules/': "
         "develop.watch[0] sync (path web) leaves it out"),
        ("conf/notes.txt", "not matched by its include patterns ('*.ini'): "
         "develop.watch[1] restart (path conf) leaves it out"),
        ("static/a.css", "reaches app through the bind mount ./static:/srv/static; "
         "develop.watch[2] sync (path static) is skipped, as compose skips it"),
    ],
)  # fmt: skip
def test_a_path_no_rule_takes_is_explained_by_what_leaves_it_out(
    root: Path, path: str, reason: str
) -> None:
    """Under develop.watch, a path under a rule's path that devd's ignore list, the build
    context's ignore file, the rule's ignore or include patterns, or a bind mount leave out
    says so (it was "matched by no develop.watch rule", which sent people looking for a
    typo in the path); only a path under no rule's path says that."""
    rules = (
        WatchRule("sync", "web", target="/srv", ignore=("node_modules/",)),
        WatchRule("restart", "conf", include=("*.ini",)),
        WatchRule("sync", "static", target="/srv/static"),
    )
    mount = Mount("bind", str(root / "static"), "/srv/static")
    svc = service("app", root, watch=rules, volumes=(mount,))
    view = service_view(replace(project(root, "p", svc), ignore=("**/*.swp",)), svc)
    assert explain(path, svc, view, str(root)).reason == reason
    assert plan_batch([path], svc, view, str(root), now=None).empty


def test_sync_rule_inside_a_bind_mount_is_skipped(root: Path) -> None:
    """A sync rule whose path a bind mount covers is not followed (compose skips it); a
    rebuild rule there still is."""
    mount = Mount("bind", str(root / "src"), "/app/src")
    rules = (WatchRule("sync", "src", target="/app/src"), WatchRule("rebuild", "src/req.txt"))
    svc, view = ruled(root, *rules, volumes=(mount,))
    assert plan_batch(["src/a.py"], svc, view, str(root), now=None).empty
    assert plan_batch(["src/req.txt"], svc, view, str(root), now=None).action is Action.REBUILD


def test_services_without_rules_follow_classification(root: Path) -> None:
    """watch None: devd's classification decides (a code change rebuilds by default)."""
    svc = service("app", root)
    view = view_of(root, svc)
    work = plan_batch(["main.py"], svc, view, str(root), now=None)
    assert work.action is Action.REBUILD
    assert work.kind is Kind.CODE
    assert not work.by_rules


def test_image_only_service_without_rules_ignores_everything(root: Path) -> None:
    """An image-only service has nothing to build: every change is ignored, explained."""
    svc = service("db", root, build=False, image="devd-busybox:latest")
    view = view_of(root, svc)
    assert plan_batch(["Dockerfile", ".dockerignore"], svc, view, str(root), now=None).empty
    said = explain(".dockerignore", svc, view, str(root))
    assert said.kind is Kind.IGNORED
    assert (
        said.reason == "service db has no build (runs image devd-busybox:latest): no file feeds it"
    )
    assert not relevant("main.py", svc, view, str(root))
    assert prunable("src", svc, view, str(root))


def test_image_only_service_with_rules_follows_them(root: Path) -> None:
    """An image-only service's sync rule works (no dockerignore applies to it)."""
    svc = service(
        "web", root, build=False, image="x", watch=(WatchRule("sync", "www", target="/srv"),)
    )
    view = view_of(root, svc)
    work = plan_batch(["www/a.log"], svc, view, str(root), now=None)
    assert work.syncs == {"/srv/a.log": "www/a.log"}


def test_rule_services_prune_only_trees_no_rule_reaches(root: Path) -> None:
    """A directory is unwatched for a ruled service only when no rule path overlaps it."""
    svc, view = ruled(root, WatchRule("sync", "web/src", target="/s"))
    assert prunable("docs", svc, view, str(root))
    assert not prunable("web", svc, view, str(root))
    assert not prunable("web/src/deep", svc, view, str(root))
    assert prunable("web/.git", svc, view, str(root))


def test_initial_sync_copies_the_rule_tree_without_ignored_and_definition_files(
    root: Path,
) -> None:
    """initial_sync: each file under the rule path, minus ignored ones and the Dockerfile /
    compose files; rules without initial_sync and non-sync rules copy nothing."""
    rules = (
        WatchRule("sync", "", target="/app", initial_sync=True, ignore=("tmp/",)),
        WatchRule("sync", "other", target="/o"),
        WatchRule("rebuild", "x", initial_sync=True),
    )
    svc, view = ruled(root, *rules)
    definitions = ["Dockerfile", "compose.yaml", "docker-compose.dev.yml"]
    files = {0: [*definitions, "a.py", "tmp/t", "b.log", "src/c.py"], 1: ["o"]}
    copies = initial_sync(svc, view, str(root), files)
    assert copies == {"/app/a.py": "a.py", "/app/src/c.py": "src/c.py"}


@pytest.mark.parametrize("code_action", ["sync", "sync-restart"])
def test_plan_early_copies_a_sync_services_code_without_a_restart(
    root: Path, code_action: str
) -> None:
    """An early look at a batch of code saves, for a service that syncs its code: copy them
    now, without a restart, as the final batch of a ``sync`` service would."""
    svc = service("app", root, code_action=code_action)
    view = view_of(root, svc)
    work = plan_early(["src/a.py", "src/b.py"], svc, view, str(root), now=2.0)
    assert work.action is Action.SYNC
    assert sorted(work.changes) == ["src/a.py", "src/b.py"]
    assert work.first_seen == 2.0
    as_sync = service("app", root, code_action="sync")
    assert work == plan_batch(["src/a.py", "src/b.py"], as_sync, view, str(root), now=2.0)


def test_plan_early_leaves_everything_else_to_the_final_batch(root: Path) -> None:
    """No early work for a service that rebuilds on code, has develop.watch rules or no
    build, nor for a batch with a Dockerfile save or only ignored files in it."""
    syncing = service("app", root, code_action="sync")
    view = view_of(root, syncing)

    def early(svc: ServiceConfig, *paths: str) -> Work:
        return plan_early(paths, svc, view, str(root), now=None)

    assert early(service("app", root), "src/a.py").empty
    assert early(service("app", root, code_action="sync", build=False), "src/a.py").empty
    ruled_service, _ = ruled(root, WatchRule("sync", "src", target="/app/src"), code_action="sync")
    assert early(ruled_service, "src/a.py").empty
    assert early(syncing, "src/a.py", "Dockerfile").empty
    assert early(syncing, "debug.log").empty
    assert not early(syncing, "src/a.py", "debug.log").empty
