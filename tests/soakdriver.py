"""The soak's parts: a seeded script of editing episodes, the model of what the project should
serve, the faults it injects, and measurements of a running ``devd up`` and of the engine.

The script is plain data (:func:`script`), so a seed names one exact hour of editing; the
:class:`Soak` plays it against a :class:`tests.updriver.UpProcess` and keeps the figures.
"""

from __future__ import annotations

import http.client
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.updriver import Sample, UpProcess, fetch, wait_for

SOAK_DOCKERFILE = """\
ARG BASE
FROM ${{BASE}}
ENV SOAK={name}
WORKDIR /app
COPY deps.txt .
RUN sh -c '! grep -q BROKEN deps.txt' && cp deps.txt /deps.txt
ENV REV={rev}
{extra}COPY www/ /app/www/
CMD ["sh", "-c", "if [ -f /app/www/crash ]; then echo crashing; exit 3; fi; \\
mkdir -p /srv && cp -r /app/www/. /srv/ && cp /deps.txt /srv/deps.txt && \\
echo \\"$REV\\" > /srv/rev.txt && exec httpd -f -p 8000 -h /srv"]
"""
"""The soak's Dockerfile. ``ENV SOAK=<project>`` comes first, so every layer devd builds for
this project (even the unlabelled ones of a failed build) descends from a layer that names it.
"""

PAGES = 40  # www/page<N>.html files the bursts rewrite
EXITED = "container exited; not restarting it (save a change to rebuild)"
FAILED_BUILD = ("build failed; previous container still running", "build failed")
INVALID = "definition invalid; keeping the running container"

# Episode kinds and their weights in a script.
WEIGHTS = {
    "code": 20,
    "burst": 10,
    "ignored": 8,
    "dependency": 8,
    "dockerfile": 5,
    "pause": 6,
    "broken-run": 4,
    "failing-step": 3,
    "unparsable": 3,
    "crash": 3,
    "kill": 3,
    "checkpoint": 4,
}
FAULTS = ("broken-run", "failing-step", "unparsable", "crash", "kill")


@dataclass(frozen=True)
class Episode:
    """One step of the script: a ``kind`` (see WEIGHTS), how many files it writes (bursts and
    ignored saves), and the pause after it (seconds)."""

    kind: str
    size: int = 1
    pause: float = 0.0


def script(seed: int, episodes: int) -> list[Episode]:
    """A seeded editing session of ``episodes`` episodes (the same seed, the same session):
    every kind at least once (given room), the rest drawn by weight, in a shuffled order."""
    chance = random.Random(seed)
    kinds = list(WEIGHTS)
    drawn = chance.choices(kinds, [WEIGHTS[kind] for kind in kinds], k=episodes)
    order = (kinds + drawn)[:episodes] if episodes >= len(kinds) else drawn
    chance.shuffle(order)
    session = []
    for kind in order:
        size = {"burst": chance.randint(50, 300), "ignored": chance.randint(5, 60)}.get(kind, 1)
        pause = chance.choice((0.0, 0.0, 0.05, 0.2, 0.5, 1.0))
        if kind == "pause":
            pause = chance.uniform(1.0, 3.0)
        session.append(Episode(kind, size, pause))
    return session


@dataclass(frozen=True)
class Resources:
    """devd's resources at one moment (from /proc)."""

    rss_kib: int
    fds: int
    threads: int

    @classmethod
    def of(cls, pid: int) -> Resources:
        status = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return cls(
            rss_kib=int(fields["VmRSS"].split()[0]),
            fds=len(os.listdir(f"/proc/{pid}/fd")),
            threads=int(fields["Threads"]),
        )


@dataclass
class Soak:
    """Plays a script against ``up`` on ``sample`` and keeps the model and the figures."""

    sample: Sample
    up: UpProcess
    client: Any  # docker-py, to kill the service's container (a crash from outside)
    seed: int
    version: int = 1
    deps: int = 1
    rev: int = 1
    pages: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    saves: int = 0
    trace: list[tuple[int, Resources]] = field(default_factory=list)  # (saves, at a settle)

    # -- the files ------------------------------------------------------------------------

    def save(self, name: str, text: str) -> None:
        self.sample.write(name, text)
        self.saves += 1

    def dockerfile(self, extra: str = "", text: str | None = None) -> None:
        body = SOAK_DOCKERFILE.format(name=self.sample.name, rev=self.rev, extra=extra)
        self.save("Dockerfile", body if text is None else text)

    def code(self) -> None:
        self.version += 1
        self.save("www/index.html", f"version-{self.version}\n")

    def dependency(self) -> None:
        self.deps += 1
        self.save("deps.txt", f"deps-{self.deps}\n")

    # -- the episodes ---------------------------------------------------------------------

    def play(self, episode: Episode, chance: random.Random) -> None:
        self.counts[episode.kind] += 1
        getattr(self, "do_" + episode.kind.replace("-", "_"))(episode, chance)
        time.sleep(episode.pause)

    def do_code(self, episode: Episode, chance: random.Random) -> None:
        self.code()

    def do_burst(self, episode: Episode, chance: random.Random) -> None:
        """A git checkout: many pages at once, the index among them."""
        for _ in range(episode.size):
            page = f"www/page{chance.randrange(PAGES)}.html"
            self.pages[page] = f"page {self.saves}"
            self.save(page, self.pages[page])
        self.code()

    def do_ignored(self, episode: Episode, chance: random.Random) -> None:
        """Saves devd must ignore: excluded, read by no COPY, editor files."""
        names = ("www/debug.log", "secrets/key", "notes.md", "www/.index.html.swp", "x.tmp~")
        for number in range(episode.size):
            self.save(chance.choice(names), f"ignored {number}")

    def do_dependency(self, episode: Episode, chance: random.Random) -> None:
        self.dependency()

    def do_dockerfile(self, episode: Episode, chance: random.Random) -> None:
        self.rev += 1
        self.dockerfile()

    def do_pause(self, episode: Episode, chance: random.Random) -> None:
        pass

    def do_checkpoint(self, episode: Episode, chance: random.Random) -> None:
        self.settled()

    def do_broken_run(self, episode: Episode, chance: random.Random) -> None:
        """A dependency that makes the RUN fail; the old container keeps serving; then a fix."""
        failed = self.count(*FAILED_BUILD)
        self.save("deps.txt", f"BROKEN-{self.saves}\n")
        self.wait_count(FAILED_BUILD, failed + 1)
        self.dependency()
        self.settled()

    def do_failing_step(self, episode: Episode, chance: random.Random) -> None:
        """A Dockerfile whose new step fails after others were built; then the fix."""
        failed = self.count(*FAILED_BUILD)
        self.dockerfile(extra=f"RUN echo {self.saves} > /step && exit 7\n")
        self.wait_count(FAILED_BUILD, failed + 1)
        self.rev += 1
        self.dockerfile()
        self.settled()

    def do_unparsable(self, episode: Episode, chance: random.Random) -> None:
        """A Dockerfile devd cannot read; the container keeps running; then the fix."""
        invalid = self.count(INVALID)
        self.dockerfile(text="FROM\nCOPY\n")
        self.wait_count((INVALID,), invalid + 1)
        self.rev += 1
        self.dockerfile()
        self.settled()

    def do_crash(self, episode: Episode, chance: random.Random) -> None:
        """An app that exits at start (a flag file); devd reports it; removing it recovers."""
        exited = self.count(EXITED)
        self.save("www/crash", "yes")
        self.wait_count((EXITED,), exited + 1)
        (self.sample.root / "www/crash").unlink()
        self.saves += 1
        self.settled()

    def do_kill(self, episode: Episode, chance: random.Random) -> None:
        """The container dies under devd (killed from outside); the next save recovers."""
        self.settled()
        exited = self.count(EXITED)
        running = self.client.containers.list(
            filters={"label": [f"devd.project={self.sample.name}", "devd.service=app"]}
        )
        for container in running:
            container.kill()
        self.wait_count((EXITED,), exited + len(running))
        self.code()
        self.settled()

    # -- checks ---------------------------------------------------------------------------

    def count(self, *events: str) -> int:
        return sum(len(self.up.named(event)) for event in events)

    def wait_count(self, events: tuple[str, ...], count: int, timeout: float = 90) -> None:
        """Wait until devd has printed ``count`` of ``events`` in all."""
        try:
            wait_for(lambda: self.count(*events) >= count, timeout, str(events), interval=0.1)
        except AssertionError:
            raise AssertionError(
                f"{count} x {events} not seen in {timeout} s; devd said: {self.up.summary()}"
            ) from None

    def expected(self) -> dict[str, str]:
        """Path served -> the text it must hold (without the project-name suffix)."""
        want = {
            "/": f"version-{self.version}",
            "/deps.txt": f"deps-{self.deps}",
            "/rev.txt": str(self.rev),
        }
        want.update({"/" + page.removeprefix("www/"): text for page, text in self.pages.items()})
        return want

    def differences(self) -> dict[str, tuple[str, str | None]]:
        """What is served differently from the model: path -> (expected, served)."""
        wrong = {}
        for path, text in self.expected().items():
            try:
                body = fetch(self.sample.port, path)
            except http.client.HTTPException:  # the container stopped mid-answer
                body = None
            suffix = "" if path == "/rev.txt" else f" {self.sample.name}"
            if body is None or body.strip() != f"{text}{suffix}":
                wrong[path] = (text, body)
        return wrong

    def settled(self, timeout: float = 90) -> None:
        """Wait until the container serves the model's state; fail after ``timeout``."""
        try:
            wait_for(lambda: not self.differences(), timeout, "the saved state", interval=0.2)
        except AssertionError:
            wrong = list(self.differences().items())[:3]
            raise AssertionError(
                f"after {timeout} s still served wrong: {wrong}; devd up "
                f"{'exited ' + str(self.up.process.poll()) if self.up.process.poll() else 'runs'}"
                f" and said: {self.up.summary()}"
            ) from None
        self.counts["settled"] += 1
        self.trace.append((self.saves, Resources.of(self.up.process.pid)))


def soak_layers(client: Any, base: str, project: str) -> tuple[list[dict[str, Any]], set[str]]:
    """Every image (intermediate ones too) built on this project's ``ENV SOAK`` layer, and the
    ids of those with children: labelled or not, these are what devd's builds left."""
    images = client.api.images(all=True)
    children: dict[str, list[dict[str, Any]]] = {}
    for image in images:
        children.setdefault(image.get("ParentId") or "", []).append(image)
    base_id = client.api.inspect_image(base)["Id"]
    marker = f"SOAK={project}"
    roots = [
        image
        for image in children.get(base_id, [])
        if marker in (client.api.inspect_image(image["Id"])["Config"].get("Env") or [])
    ]
    found, pending = [], list(roots)
    while pending:
        image = pending.pop()
        found.append(image)
        pending.extend(children.get(image["Id"], []))
    return found, {image["Id"] for image in found if children.get(image["Id"])}
