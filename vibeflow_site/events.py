"""Sending an app's signal to the apps above it once the transaction that caused it commits.

The one way an app tells the apps above it (docs/ARCHITECTURE.md): the lower app defines a
Django signal in its `signals.py` and sends it through `send_after_commit`; the apps above
connect in their `AppConfig.ready()`.
"""

from __future__ import annotations

import logging

from django.db import transaction

log = logging.getLogger(__name__)


def send_after_commit(signal, model, pk, name: str) -> None:
    """After commit, send ``signal`` with the row ``model(pk)`` as keyword ``name``.

    Robust both ways: the event has happened and is committed, so a failure to announce it (the
    database gone for a moment) or a receiver's failure is logged, never raised into the task or
    the loop that caused it."""

    def send():
        row = model.objects.filter(pk=pk).first()
        if row is None:  # deleted meanwhile: nobody to tell
            return
        for receiver, result in signal.send_robust(model, **{name: row}):
            if isinstance(result, Exception):
                log.error(
                    "signal receiver failed",
                    exc_info=result,
                    extra={"receiver": getattr(receiver, "__qualname__", repr(receiver))},
                )

    transaction.on_commit(send, robust=True)
