"""What the training app tells the apps above it.

`run_finished` is sent after the transaction that ends a run commits (succeeded, failed,
cancelled or stopped), with ``run`` = the row. Apps above this one connect to it (the demo's
finished example starts over when its run was lost for good) instead of being called from here.
"""

import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

run_finished = Signal()


def announce_finished(run_id) -> None:
    """Send `run_finished` once the current transaction commits."""

    def send():
        from .models import TrainingRun

        run = TrainingRun.objects.select_related("project").filter(pk=run_id).first()
        if run is None:
            return
        # A receiver's failure is its own: the run has ended either way.
        for receiver, result in run_finished.send_robust(TrainingRun, run=run):
            if isinstance(result, Exception):
                log.error(
                    "run_finished receiver failed",
                    exc_info=result,
                    extra={"receiver": getattr(receiver, "__qualname__", repr(receiver))},
                )

    transaction.on_commit(send, robust=True)
