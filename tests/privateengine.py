"""A private Docker engine a test may stop, kill and start again.

The engine every other test uses is shared (other runs use it at the same time), so tests of
engine faults start their own ``dockerd``: its own API socket, data root, exec root (and so
its own containerd, which dockerd starts under the exec root), pid file, containerd
namespaces and cgroup parent, an empty configuration file (nothing from /etc/docker), and its
own network namespace, where it makes no bridge, iptables rules, masquerading, IP forwarding
or userland proxy: nothing it does reaches the host's network set-up or the shared engine's.
Its containers have no network but loopback; what they serve is read through ``docker
exec`` (:meth:`PrivateEngine.exec`), not a published port.

The network namespace is not optional: a dockerd started with ``--bridge=none`` in the host's
namespace deletes ``docker0``, the shared engine's bridge, and the shared engine's containers
then fail to start ("could not find bridge docker0"). :meth:`PrivateEngine.close` checks
that docker0 survived.

With ``tcp=True`` it also listens on TCP, as a remote engine does (``DOCKER_HOST=tcp://...``):
its network namespace is then a named one (``ip netns``) that outlives each dockerd, joined
to the host by a veth pair whose two addresses are made up here, in 10.213.0.0/16, a /30 per
engine (:func:`_subnet`). Nothing but this engine's own namespace is ever addressed; while
dockerd is stopped its address refuses connections, as a restarting remote engine's does.
:attr:`PrivateEngine.host` is then the ``tcp://`` address; the test's own client keeps the
unix socket.

Stopping it (:meth:`PrivateEngine.stop`, SIGTERM) stops its containers; killing it
(:meth:`PrivateEngine.kill`, SIGKILL) leaves them to their shims until the next start, which
kills them (no live-restore); freezing it (:meth:`PrivateEngine.freeze`, SIGSTOP) leaves its
socket accepting and nothing answering until :meth:`PrivateEngine.thaw` (SIGCONT).
:meth:`PrivateEngine.close` removes everything it made.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors

START_TIMEOUT = 60.0


class PrivateEngine:
    """One private ``dockerd``; :meth:`start` it, point DOCKER_HOST at :attr:`host`."""

    def __init__(self, tag: str, tcp: bool = False, ports: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"devd-engine-{tag}-", dir="/tmp"))
        self.tag = tag
        self.socket = f"unix://{self.dir}/docker.sock"
        self.host = self.socket
        self.netns: str | None = None
        self.ports = ports
        if tcp:
            self.netns, (self.host_address, self.address) = f"devd-{tag}", _subnet(tag)
            self.host = f"tcp://{self.address}:{TCP_PORT}"
            self._make_netns()
        assert self.netns is not None or not ports, "ports=True needs tcp=True (a named netns)"
        self.process: subprocess.Popen[bytes] | None = None
        self.client: Any = None
        self.frozen = False  # stopped by SIGSTOP (freeze) until thawed
        self.docker0 = _ifindex("docker0")  # the shared engine's bridge, checked at close
        (self.dir / "daemon.json").write_text("{}\n")

    def command(self) -> list[str]:
        """dockerd in a network namespace of its own (``unshare --net``): whatever it does to
        interfaces, bridges and iptables stays there. Without one, ``--bridge=none`` deletes
        the host's docker0 (daemon_unix.go removeDefaultBridgeInterface), the shared
        engine's bridge, and every container of the shared engine then fails to start. A TCP
        engine joins its named namespace instead, and listens on TCP there too."""
        if self.netns is None:
            enter, listen = ["unshare", "--net"], []
        else:
            enter = ["nsenter", f"--net=/run/netns/{self.netns}"]
            # --tls=false says "no TLS" on purpose: engine 20.10 otherwise waits 15 s at start
            listen = [f"--host=tcp://0.0.0.0:{TCP_PORT}", "--tls=false"]
        return [
            *enter,
            "dockerd",
            f"--config-file={self.dir}/daemon.json",
            f"--host={self.socket}",
            *listen,
            f"--data-root={self.dir}/data",
            f"--exec-root={self.dir}/exec",
            f"--pidfile={self.dir}/docker.pid",
            f"--containerd-namespace=devd-{self.tag}",
            f"--containerd-plugins-namespace=devd-{self.tag}-plugins",
            f"--cgroup-parent=/devd-{self.tag}",
            *self._network_flags(),
        ]

    def _network_flags(self) -> list[str]:
        """No bridge and no port proxy; with ``ports=True`` (in a named namespace only) the
        engine's own docker0 in its namespace and its userland proxy, so a published port
        answers on the namespace's addresses, 127.0.0.1 included, as on a remote host."""
        bridge = (
            ["--userland-proxy=true"] if self.ports else ["--bridge=none", "--userland-proxy=false"]
        )
        return [*bridge, "--iptables=false", "--ip-masq=false", "--ip-forward=false"]

    def start(self) -> float:
        """Start dockerd and wait until it answers; returns the seconds that took."""
        assert self.process is None, "already running"
        self._wait_containerd_gone()
        started = time.monotonic()
        with (self.dir / "dockerd.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = started + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"private dockerd exited: {self.log_tail()}")
            if self.answers():
                if self.client is None:
                    self.client = docker.DockerClient(base_url=self.socket, timeout=30)
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(
            f"private dockerd did not answer in {START_TIMEOUT} s: {self.log_tail()}"
        )

    def answers(self) -> bool:
        """Whether dockerd answers a ping (a raw request: docker-py leaves the socket of a
        refused unix connection unclosed, a ResourceWarning)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(5)
            try:
                probe.connect(str(self.dir / "docker.sock"))
                probe.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                reply = probe.recv(64)
            except OSError:
                return False
        return reply.startswith(b"HTTP/1.") and reply[9:12] == b"200"

    def freeze(self) -> None:
        """SIGSTOP: dockerd stays, its socket still accepts connections, nothing answers (a
        hung engine); its containerd and containers run on."""
        assert self.process is not None, "not running"
        self.process.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        """SIGCONT: a frozen dockerd answers again (what it was asked meanwhile included)."""
        if self.process is not None and self.frozen:
            self.process.send_signal(signal.SIGCONT)
        self.frozen = False

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM: dockerd stops its containers and exits."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: dockerd dies at once (its containerd follows; the shims stay)."""
        self._end(signal.SIGKILL, 10)

    def _end(self, sig: int, timeout: float) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout=timeout)
        self.process = None
        self._wait_containerd_gone()

    def _wait_containerd_gone(self, timeout: float = 15) -> None:
        """dockerd's containerd ends after dockerd (on SIGKILL, by its parent-death signal);
        its pid file stays, and a dockerd started while that pid is still a process (a zombie
        not reaped yet counts) finds it "still running", then fails to reach it. Wait for it
        to end, then remove the pid file, so the next dockerd starts its own containerd."""
        pid_file = self.dir / "exec/containerd/containerd.pid"
        pid = _read_pid(pid_file)
        deadline = time.monotonic() + timeout
        while pid is not None and _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid is not None and _running(pid):
            os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)

    def load_image(self, source: Any, name: str) -> None:
        """Copy image ``name`` from the engine behind docker-py client ``source``."""
        data = b"".join(source.api.get_image(name))
        self.client.api.load_image(data)

    def exec(self, container_id: str, *command: str) -> str | None:
        """What ``command`` prints in the container; None if it fails or the engine is down."""
        try:
            code, output = self.client.containers.get(container_id).exec_run(list(command))
        except Exception:  # gone, refused or no engine: nothing to read
            return None
        return output.decode(errors="replace") if code == 0 else None

    def running(self, label: str) -> list[Any]:
        """The running containers carrying ``label`` (``key=value``)."""
        return list(self.client.containers.list(filters={"label": label}))

    def log_tail(self, lines: int = 15) -> str:
        path = self.dir / "dockerd.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        """Remove the containers, stop dockerd, unmount and delete its directories."""
        try:
            self.thaw()  # a frozen dockerd would neither answer nor end on SIGTERM
            if self.process is None:
                self.start()  # also ends what a killed engine's shims still run
            for container in self.client.containers.list(all=True) if self.client else ():
                with contextlib.suppress(docker.errors.APIError):
                    container.remove(force=True)
        finally:
            if self.client is not None:
                self.client.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop()
            if self.process is not None:
                self.kill()
            self._end_shims()
            _unmount_under(self.dir)
            shutil.rmtree(self.dir, ignore_errors=True)
            _remove_cgroups(f"devd-{self.tag}")
            self._remove_netns()
        if self.docker0 is not None and _ifindex("docker0") != self.docker0:
            raise AssertionError("docker0, the shared engine's bridge, was deleted meanwhile")

    def _make_netns(self) -> None:
        """The named namespace and the veth pair into it, both ends addressed and up."""
        assert self.netns is not None
        outside, inside = _veth_names(self.tag)
        for command in (
            ["ip", "netns", "add", self.netns],
            ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside],
            ["ip", "link", "set", inside, "netns", self.netns],
            ["ip", "addr", "add", f"{self.host_address}/30", "dev", outside],
            ["ip", "link", "set", outside, "up"],
            ["ip", "-n", self.netns, "addr", "add", f"{self.address}/30", "dev", inside],
            ["ip", "-n", self.netns, "link", "set", inside, "up"],
            ["ip", "-n", self.netns, "link", "set", "lo", "up"],
        ):
            subprocess.run(command, check=True, capture_output=True)

    def _remove_netns(self) -> None:
        if self.netns is not None:
            subprocess.run(["ip", "netns", "del", self.netns], check=False, capture_output=True)
            outside = _veth_names(self.tag)[0]
            subprocess.run(["ip", "link", "del", outside], check=False, capture_output=True)

    def _end_shims(self) -> None:
        """Kill what a dead engine left: the shims of its containerd namespace (found by
        their ``-namespace`` argument) and the containers' first processes under them."""
        shims = [pid for pid, argv in _processes() if f"devd-{self.tag}" in argv[:3]]
        children = [pid for pid, _ in _processes() if _parent(pid) in shims]
        for pid in children + shims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


TCP_PORT = 2375


def _subnet(tag: str) -> tuple[str, str]:
    """The host's and the engine's address on a /30 of 10.213.0.0/16 chosen by ``tag``."""
    block = int(hashlib.sha256(tag.encode()).hexdigest(), 16) % (1 << 14)
    base = (block << 2) & 0xFFFF
    third, fourth = base >> 8, base & 0xFF
    return f"10.213.{third}.{fourth + 1}", f"10.213.{third}.{fourth + 2}"


def _veth_names(tag: str) -> tuple[str, str]:
    """The veth pair's names (at most 15 characters): the host's end, the engine's end."""
    return f"dv{tag[:10]}h", f"dv{tag[:10]}n"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][:1] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _ifindex(interface: str) -> str | None:
    """The interface's index (a deleted and re-made one gets a new one); None if absent."""
    try:
        return Path("/sys/class/net", interface, "ifindex").read_text().strip()
    except OSError:
        return None


def _processes() -> list[tuple[int, list[str]]]:
    """Every process as (pid, argv)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                found.append((int(entry), [arg.decode(errors="replace") for arg in argv]))
    return found


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _remove_cgroups(name: str) -> None:
    """Remove the (empty) cgroup directories ``--cgroup-parent=/name`` made, deepest first."""
    for top in Path("/sys/fs/cgroup").glob(f"*/{name}"):
        for directory in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if directory.is_dir():
                with contextlib.suppress(OSError):
                    directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _unmount_under(directory: Path) -> None:
    """Lazily unmount whatever dockerd left mounted below ``directory`` (deepest first)."""
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(str(directory))]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
