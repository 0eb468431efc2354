"""In-memory fakes of the engine's ports (``bot.engine.ports``, ``bot.engine.notify``).

Each keeps the observable semantics the engine relies on of its real adapter (the
Redis ``Store``, ``Kube``, ``Helm``, the forge), in dicts and in this process, so the
engine is testable without the test bed. Failures are injected through each fake's
``faults`` (``bot.domain.errors`` errors, as the real adapters raise them).
"""
