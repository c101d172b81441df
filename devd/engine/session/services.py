"""The gRPC methods devd serves in a session, one handler each, and what a session offers
(:class:`Attachments`): the directories of the file sync, registry credentials, secrets and
SSH agents.

* ``grpc.health.v1.Health/Check``: SERVING (the engine asks every few seconds, and ends the
  session when no answer comes);
* ``moby.filesync.v1.FileSync/DiffCopy``: :mod:`.filesync`;
* ``moby.filesync.v1.Auth/Credentials``: the user name and secret for a registry host;
  ``FetchToken`` and ``GetTokenAuthority`` answer UNIMPLEMENTED, which makes the engine fetch
  tokens itself with those credentials;
* ``moby.buildkit.secrets.v1.Secrets/GetSecret``: a secret's bytes, NOT_FOUND for an id the
  service does not declare;
* ``moby.sshforward.v1.SSH/CheckAgent`` and ``ForwardAgent``: a local agent's socket, its
  bytes carried both ways in BytesMessages; the agent's id comes in the
  ``buildkit.ssh.id`` metadata (``default`` when absent).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from devd.engine.session import messages
from devd.engine.session.filesync import (
    DiffCopySender,
    SyncedDir,
    SyncError,
    SyncRequest,
    listing,
)
from devd.engine.session.grpcframe import Status
from devd.engine.session.messages import Packet, PacketType
from devd.engine.session.server import Call, CallClosed, CallError, Handler

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
DIFF_COPY = "/moby.filesync.v1.FileSync/DiffCopy"
CREDENTIALS = "/moby.filesync.v1.Auth/Credentials"
FETCH_TOKEN = "/moby.filesync.v1.Auth/FetchToken"
TOKEN_AUTHORITY = "/moby.filesync.v1.Auth/GetTokenAuthority"
GET_SECRET = "/moby.buildkit.secrets.v1.Secrets/GetSecret"
CHECK_AGENT = "/moby.sshforward.v1.SSH/CheckAgent"
FORWARD_AGENT = "/moby.sshforward.v1.SSH/ForwardAgent"
SSH_ID_KEY = "buildkit.ssh.id"

CredentialLookup = Callable[[str], tuple[str, str] | None]
"""The (user name, secret) for a registry host; None when there are none."""
SecretReader = Callable[[], bytes]
"""A secret's current value (read when the build asks for it)."""


@dataclass(frozen=True)
class SyncReport:
    """What one DiffCopy call moved: entries listed, files sent, their bytes."""

    dir_name: str
    listed: int
    sent_paths: tuple[str, ...]
    data_bytes: int


@dataclass(frozen=True)
class Attachments:
    """What a session offers the engine. ``on_sync`` gets a report of each file sync."""

    dirs: Mapping[str, SyncedDir]
    credentials: CredentialLookup | None = None
    secrets: Mapping[str, SecretReader] = field(default_factory=dict)
    ssh: Mapping[str, str] = field(default_factory=dict)
    """Agent socket paths by id (``default``: SSH_AUTH_SOCK)."""
    on_sync: Callable[[SyncReport], None] | None = None
    on_sync_error: Callable[[str], None] | None = None
    """Gets the reason of a file sync devd could not complete (a file it cannot read)."""


def handlers(offer: Attachments) -> dict[str, Handler]:
    """The methods the session serves, by path; only those it has something for."""
    served: dict[str, Handler] = {
        HEALTH_CHECK: _health,
        DIFF_COPY: lambda call: _diff_copy(call, offer),
    }
    if offer.credentials is not None:
        lookup = offer.credentials
        served[CREDENTIALS] = lambda call: _credentials(call, lookup)
        served[FETCH_TOKEN] = _unimplemented
        served[TOKEN_AUTHORITY] = _unimplemented
    if offer.secrets:
        served[GET_SECRET] = lambda call: _secret(call, offer.secrets)
    if offer.ssh:
        served[CHECK_AGENT] = lambda call: _check_agent(call, offer.ssh)
        served[FORWARD_AGENT] = lambda call: _forward_agent(call, offer.ssh)
    return served


def _health(call: Call) -> None:
    call.recv()
    call.send(messages.HEALTH_SERVING)


def _unimplemented(call: Call) -> None:
    raise CallError(Status.UNIMPLEMENTED, f"devd does not serve {call.path}")


def _diff_copy(call: Call, offer: Attachments) -> None:
    request = SyncRequest.from_metadata(call.metadata)
    synced = offer.dirs.get(request.dir_name)
    if synced is None:
        raise CallError(Status.NOT_FOUND, f"no access allowed to dir {request.dir_name!r}")
    try:
        entries = listing(synced, request)
        sender = DiffCopySender(entries)
        if _send_files(call, sender) and offer.on_sync is not None:
            report = SyncReport(
                request.dir_name, len(entries), tuple(sender.sent_paths), sender.data_bytes
            )
            offer.on_sync(report)
    except SyncError as error:
        if offer.on_sync_error is not None:
            offer.on_sync_error(str(error))
        with contextlib.suppress(CallClosed):
            call.send(Packet(PacketType.ERR, data=str(error).encode()).encode())
        raise CallError(Status.UNKNOWN, str(error)) from error


def _send_files(call: Call, sender: DiffCopySender) -> bool:
    """List the tree, answering requests as they come, until the engine's FIN; False if
    the engine ended the stream without one."""
    for packet in sender.listing():
        call.send(packet)
        while (message := call.poll()) is not None:
            if _answer(call, sender, message):
                return True
    while (message := call.recv()) is not None:
        if _answer(call, sender, message):
            return True
    return False


def _answer(call: Call, sender: DiffCopySender, message: bytes) -> bool:
    packets, done = sender.answer(message)
    for packet in packets:
        call.send(packet)
    return done


def _credentials(call: Call, lookup: CredentialLookup) -> None:
    host = messages.first_text(call.recv() or b"")
    found = lookup(host)
    user, secret = found if found is not None else ("", "")
    call.send(messages.credentials_response(user, secret))


def _secret(call: Call, secrets: Mapping[str, SecretReader]) -> None:
    ident = messages.first_text(call.recv() or b"")
    reader = secrets.get(ident)
    if reader is None:
        raise CallError(Status.NOT_FOUND, f"secret {ident} not found")
    try:
        value = reader()
    except OSError as error:
        raise CallError(Status.NOT_FOUND, f"secret {ident}: {error}") from error
    call.send(messages.secret_response(value))


def _check_agent(call: Call, agents: Mapping[str, str]) -> None:
    ident = messages.first_text(call.recv() or b"") or "default"
    if ident not in agents:
        raise CallError(Status.NOT_FOUND, f"no SSH agent with id {ident!r} is forwarded")
    call.send(b"")


def _forward_agent(call: Call, agents: Mapping[str, str]) -> None:
    ident = (call.metadata.get(SSH_ID_KEY) or ["default"])[0]
    path = agents.get(ident)
    if path is None:
        raise CallError(Status.NOT_FOUND, f"no SSH agent with id {ident!r} is forwarded")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as agent:
        try:
            agent.connect(path)
        except OSError as error:
            raise CallError(Status.UNAVAILABLE, f"SSH agent {path}: {error}") from error
        copier = threading.Thread(target=_agent_to_engine, args=(agent, call), daemon=True)
        copier.start()
        while (message := call.recv()) is not None:
            agent.sendall(messages.first_bytes(message))
        agent.shutdown(socket.SHUT_WR)
        copier.join(timeout=10)


def _agent_to_engine(agent: socket.socket, call: Call) -> None:
    try:
        while data := agent.recv(65536):
            call.send(messages.bytes_message(data))
    except (OSError, CallClosed):
        pass
