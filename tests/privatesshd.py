"""A real OpenSSH server in front of a private engine, for ``DOCKER_HOST=ssh://`` tests.

The engine is a :class:`tests.privateengine.PrivateEngine` with ``tcp=True`` (a named network
namespace joined to the host by a veth pair, addressed by privateengine's own allocation)
and ``ports=True`` (its own docker0 and userland proxy in that namespace, so a published
port answers on the namespace's 127.0.0.1, as on a remote host). sshd runs in the same
namespace, listening on the namespace's end of the veth pair, port 22: the host's port 22 is
never touched. Its configuration is the stock one but for where its files are (host key, pid
file, authorized keys: a directory under /run made here, since sshd's StrictModes refuses
keys under /tmp) and ``SetEnv DOCKER_HOST=<the private engine's socket> HOME=<a directory of
its own>``: the ``docker system dial-stdio`` each API channel runs reaches that engine, not
the shared one, and the shell sshd runs it with (bash, which reads ~/.bashrc when sshd starts
it) does not run this machine's root's ~/.bashrc (here pyenv's set-up, which under load kept
every session waiting for over a minute).
``MaxSessions 10`` is written out, though it is the default, because it is what is tested.

The client side is a home directory of the test's own (``HOME``): ``.ssh/config`` names the
key made here, ``.ssh/known_hosts`` the host key made here. :attr:`PrivateSshd.env` is what
devd needs in its environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.privateengine import PrivateEngine, _parent, _processes

SSHD = "/usr/sbin/sshd"
MAX_SESSIONS = 10
START_TIMEOUT = 15.0


class PrivateSshd:
    """sshd in ``engine``'s namespace; :meth:`start` it, :meth:`close` removes it all."""

    def __init__(self, engine: PrivateEngine, home: Path) -> None:
        assert engine.netns is not None, "the engine needs tcp=True (a named netns)"
        self.engine = engine
        self.dir = Path(tempfile.mkdtemp(prefix=f"devd-sshd-{engine.tag}-", dir="/run"))
        self.home = home
        self.host = f"ssh://root@{engine.address}"
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {"HOME": str(home), "DOCKER_HOST": self.host}

    def start(self) -> None:
        """Make the keys and configuration (once) and start sshd; returns when it listens."""
        if not (self.dir / "sshd_config").exists():
            self._make_keys()
            self._write_config()
            (self.dir / "home").mkdir(mode=0o700)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        with (self.dir / "sshd.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "nsenter",
                    f"--net=/run/netns/{self.engine.netns}",
                    SSHD,
                    "-D",
                    "-e",
                    "-f",
                    str(self.dir / "sshd_config"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log_tail()}")
            if self._listening():
                return
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen in {START_TIMEOUT} s: {self.log_tail()}")

    def _make_keys(self) -> None:
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        subprocess.run([*keygen, "-f", str(self.dir / "host_key")], check=True)
        ssh = self.home / ".ssh"
        ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        subprocess.run([*keygen, "-f", str(ssh / "devd_test_key")], check=True)
        shutil.copy(ssh / "devd_test_key.pub", self.dir / "authorized_keys")
        host_key = (self.dir / "host_key.pub").read_text().split()[:2]
        (ssh / "known_hosts").write_text(f"{self.engine.address} {' '.join(host_key)}\n")
        (ssh / "config").write_text(
            f"Host {self.engine.address}\n    IdentityFile {ssh / 'devd_test_key'}\n"
        )

    def _write_config(self) -> None:
        (self.dir / "sshd_config").write_text(
            f"ListenAddress {self.engine.address}:22\n"
            f"HostKey {self.dir / 'host_key'}\n"
            f"PidFile {self.dir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            f"SetEnv DOCKER_HOST={self.engine.socket} HOME={self.dir / 'home'}\n"
            f"MaxSessions {MAX_SESSIONS}\n"
            "UsePAM no\n"
        )

    def _listening(self) -> bool:
        out = subprocess.run(
            ["ip", "netns", "exec", str(self.engine.netns), "ss", "-Hltn", "sport = :22"],
            capture_output=True,
            text=True,
            check=False,
        )
        return bool(out.stdout.strip())

    def dial_stdio_count(self) -> int:
        """How many ``docker system dial-stdio`` this sshd runs now: one per open API session
        channel, as sshd counts them."""
        if self.process is None:
            return 0
        return sum(
            1
            for pid, argv in _processes()
            if argv[1:3] == ["system", "dial-stdio"] and self._descends(pid)
        )

    @contextlib.contextmanager
    def counting_sessions(self) -> Iterator[list[int]]:
        """Samples :meth:`dial_stdio_count` every 50 ms while the block runs; the list it
        yields holds the highest count seen, once the block has ended."""
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], self.dial_stdio_count())
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield peak
        finally:
            done.set()
            sampler.join()

    def _descends(self, pid: int) -> bool:
        assert self.process is not None
        parent: int | None = pid
        for _ in range(8):  # nsenter -> sshd -> session sshd -> ... -> docker
            parent = _parent(parent) if parent is not None else None
            if parent is None:
                return False
            if parent == self.process.pid:
                return True
        return False

    def refusals(self) -> int:
        """How many session channels sshd refused (its log says why for each)."""
        text = self.log_text()
        return text.count("no more sessions") + text.count("open failed")

    def log_text(self) -> str:
        path = self.dir / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL sshd and every process under it (the connections' own sshd processes and
        their dial-stdio): the engine's host gone from the network, as far as ssh goes."""
        if self.process is None:
            return
        doomed = [pid for pid, _ in _processes() if self._descends(pid)]
        for pid in [self.process.pid, *doomed]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        """Kill sshd and what runs under it (its connections outlive the listener), then
        remove its files."""
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
