"""What the training app tells the apps above it.

`run_finished` is sent after the transaction that ends a run commits (succeeded, failed,
cancelled or stopped), with ``run`` = the row. Apps above this one connect to it (the demo's
finished example starts over when its run was lost for good) instead of being called from here.
"""

from django.dispatch import Signal

from vibeflow_site.events import send_after_commit

run_finished = Signal()


def announce_finished(run) -> None:
    """Send the signal with this row, read again once the current transaction commits."""
    send_after_commit(run_finished, type(run), run.pk, "run")
