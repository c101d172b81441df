"""A real registry for tests: Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1,
with htpasswd (basic) auth; the engine treats 127.0.0.0/8 registries as insecure (plain
HTTP), so nothing else is needed. scripts/setup-engine --registry installs it."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.updriver import free_port


class Registry:
    """A registry process of the test's own; ``address`` is ``127.0.0.1:PORT``."""

    def __init__(self, directory: Path, user: str, password: str) -> None:
        self.directory = directory
        self.user = user
        self.password = password
        self.address = f"127.0.0.1:{free_port()}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        htpasswd = subprocess.run(
            ["htpasswd", "-Bbn", self.user, self.password],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        (self.directory / "htpasswd").write_text(htpasswd)
        (self.directory / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: error\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.directory / 'data'}\n"
            f"http:\n  addr: {self.address}\n"
            f"auth:\n  htpasswd:\n    realm: devd-test\n    path: {self.directory / 'htpasswd'}\n"
        )
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(self.directory / "config.yml")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not self._answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"the registry at {self.address} did not start")
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1).close()
        except urllib.error.HTTPError as error:
            return error.code == 401  # up, and asking for the password
        except OSError:
            return False
        return True

    def docker_config(self, directory: Path, password: str | None = None) -> Path:
        """A Docker config directory (for DOCKER_CONFIG) holding credentials for this
        registry: the right password, or ``password``."""
        directory.mkdir(parents=True, exist_ok=True)
        secret = f"{self.user}:{password or self.password}".encode()
        auths = {self.address: {"auth": base64.b64encode(secret).decode()}}
        (directory / "config.json").write_text(json.dumps({"auths": auths}))
        return directory

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.directory / "data", ignore_errors=True)
