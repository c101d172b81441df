"""devd's benchmark suite: save → served latency, bursts, idle cost and start-up against
``docker compose watch`` and the engine's floor. Run it with ``bench/run`` (see README.md)."""
