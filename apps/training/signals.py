"""What the training app tells the apps above it.

- `run_changed` is sent inside the transaction that changes a run's status, with ``run`` (the
  row) and ``status`` (the new one). What follows from the change commits with it or not at all:
  the project's status (endpoints), a succeeded run's evaluation (evaluations), queued in the
  same transaction so a page that reads the run as succeeded also finds its evaluation.
- `run_finished` is sent after the transaction that ends a run commits (succeeded, failed,
  cancelled or stopped), with ``run`` = the row (the demo's finished example starts over when its
  run was lost for good).

Apps above this one connect to them in their `AppConfig.ready()` instead of being called from
here.
"""

from django.dispatch import Signal

from vibeflow_site.events import send_after_commit

run_changed = Signal()
run_finished = Signal()


def announce_finished(run) -> None:
    """Send `run_finished` with this row, read again once the current transaction commits."""
    send_after_commit(run_finished, type(run), run.pk, "run")
