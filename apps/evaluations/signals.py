"""What the evaluations app tells the apps above it.

`evaluation_finished` is sent after the transaction that ends an evaluation commits (succeeded,
failed, or failed by the reaper), with ``evaluation`` = the row. Apps above this one (the demo's
finished example, which deploys when its evaluation ends) connect to it instead of being called
from here.
"""

from django.dispatch import Signal

from vibeflow_site.events import send_after_commit

evaluation_finished = Signal()


def announce_finished(evaluation) -> None:
    """Send the signal with this row, read again once the current transaction commits."""
    send_after_commit(evaluation_finished, type(evaluation), evaluation.pk, "evaluation")
