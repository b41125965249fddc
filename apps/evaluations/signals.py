"""What the evaluations app tells the apps above it.

`evaluation_finished` is sent after the transaction that ends an evaluation commits (succeeded,
failed, or failed by the reaper), with ``evaluation`` = the row. Apps above this one (the demo's
finished example, which deploys when its evaluation ends) connect to it instead of being called
from here.
"""

import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

evaluation_finished = Signal()


def announce_finished(evaluation_id) -> None:
    """Send `evaluation_finished` once the current transaction commits."""

    def send():
        from .models import Evaluation

        evaluation = Evaluation.objects.filter(pk=evaluation_id).first()
        if evaluation is None:
            return
        # A receiver's failure is its own: the evaluation has ended either way.
        for receiver, result in evaluation_finished.send_robust(Evaluation, evaluation=evaluation):
            if isinstance(result, Exception):
                log.error(
                    "evaluation_finished receiver failed",
                    exc_info=result,
                    extra={"receiver": getattr(receiver, "__qualname__", repr(receiver))},
                )

    # robust: the evaluation has ended and is committed; a failure to announce it (the database
    # gone for a moment) must not fail the task or stop the reaper's loop half-way.
    transaction.on_commit(send, robust=True)
