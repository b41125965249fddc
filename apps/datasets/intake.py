"""A new dataset, or a new version of one, from a stored file, queued for analysis: what an
upload, a sample and the endpoints' production calls (endpoints/production.py) all start with."""

from __future__ import annotations

from .models import Dataset, DatasetVersion
from .tasks import analyse_version


def start_version(project, user, stored, name: str, reason: str, dataset=None) -> DatasetVersion:
    """Version 1 of a new dataset called ``name``, or the next version of ``dataset``, read
    from ``stored``; analysed once the transaction commits."""
    if dataset is None:
        dataset = Dataset.objects.create(project=project, name=name[:200], created_by=user)
    version = DatasetVersion.create_next(
        dataset, source=stored, original_name=name[:255], reason=reason, created_by=user
    )
    analyse_version.delay_on_commit(str(version.pk))
    return version
