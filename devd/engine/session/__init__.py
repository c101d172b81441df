"""BuildKit's session, spoken by devd: the engine calls back into devd, during a build, for
the build context (file sync), registry credentials, secrets and the SSH agent.

The modules, from the bytes up:

* :mod:`~devd.core.protowire` (shared with the build trace): the protobuf wire format;
* :mod:`.messages`: the session's protobuf messages;
* :mod:`.grpcframe`: gRPC's message framing and status codes;
* :mod:`.filesync`: which files the context sends, and the DiffCopy sender;
* :mod:`.services`: the handlers of each gRPC method devd serves;
* :mod:`.server`: the gRPC server on the upgraded connection (HTTP/2 by ``h2``);
* :mod:`.session`: ``POST /session``, the upgrade, and the session's lifetime.
"""
