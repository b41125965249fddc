"""Finding training data on the Hugging Face Hub, through huggingface_hub.

Everything that can fail because of the network or a missing token raises
DiscoveryUnavailable with a sentence for the page, which then offers the
sample datasets instead.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from vibeflow_site import hf

DATA_EXTENSIONS = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?$")


class DiscoveryUnavailable(Exception):
    """The Hub cannot answer; the message says why and what to do."""


@dataclass
class HubFile:
    name: str
    size: int | None


@dataclass
class HubDataset:
    id: str
    downloads: int | None = None
    likes: int | None = None
    license: str | None = None
    size_category: str | None = None
    columns: list[str] = field(default_factory=list)
    files: list[HubFile] = field(default_factory=list)

    @property
    def data_files(self) -> list[HubFile]:
        return [f for f in self.files if f.name.lower().endswith(DATA_EXTENSIONS)]


def valid_repo_id(value: str) -> bool:
    return bool(_REPO_ID.match(value or "")) and ".." not in value


def _api():
    if not hf.hub_reachable():
        raise DiscoveryUnavailable(
            "The Hugging Face Hub can't be reached from this server (no network or it is down). "
            "Start from a sample dataset below, or upload your own file."
        )
    return hf.api(settings.HF_TOKEN)


def _explain(exc: Exception) -> DiscoveryUnavailable:
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    if isinstance(exc, DiscoveryUnavailable):
        return exc

    if isinstance(exc, GatedRepoError):
        return DiscoveryUnavailable(
            "This dataset is gated: accept its terms on the Hub and set HF_TOKEN to import it."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return DiscoveryUnavailable(
            "No dataset with that id on the Hub (or it is private and HF_TOKEN is not set)."
        )
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return DiscoveryUnavailable(
                "The Hub refused the request: set a valid HF_TOKEN to search and import."
            )
        return DiscoveryUnavailable(
            f"The Hub answered with an error ({status or exc}). Try again later, or start from a sample below."
        )
    return DiscoveryUnavailable(
        "The Hugging Face Hub can't be reached from this server (no network or it is down). "
        "Start from a sample dataset below, or upload your own file."
    )


def _from_info(info) -> HubDataset:
    tags = info.tags or []
    license_ = next((t.split(":", 1)[1] for t in tags if t.startswith("license:")), None)
    size = next((t.split(":", 1)[1] for t in tags if t.startswith("size_categories:")), None)
    columns: list[str] = []
    card = info.card_data.to_dict() if info.card_data is not None else {}
    license_ = license_ or (card.get("license") if isinstance(card.get("license"), str) else None)
    features = (
        (card.get("dataset_info") or {}).get("features")
        if isinstance(card.get("dataset_info"), dict)
        else None
    )
    if isinstance(features, list):
        columns = [f.get("name") for f in features if isinstance(f, dict) and f.get("name")]
    files = [HubFile(s.rfilename, s.size) for s in (info.siblings or [])]
    return HubDataset(info.id, info.downloads, info.likes, license_, size, columns, files)


def search(query: str, limit: int = 10) -> list[HubDataset]:
    try:
        return [
            _from_info(info) for info in _api().list_datasets(search=query, limit=limit, full=True)
        ]
    except Exception as exc:  # network, HTTP and parsing errors all mean "unavailable" here
        raise _explain(exc) from exc


def describe(repo_id: str) -> HubDataset:
    try:
        return _from_info(_api().dataset_info(repo_id, files_metadata=True))
    except Exception as exc:
        raise _explain(exc) from exc


def pick_file(dataset: HubDataset) -> HubFile | None:
    """The file to import: a training split first, then the largest data file under the size limit."""
    candidates = [
        f for f in dataset.data_files if (f.size or 0) <= settings.DATASET_MAX_UPLOAD_BYTES
    ]
    if not candidates:
        return None
    train = [f for f in candidates if re.search(r"(^|[/_.-])train([/_.-]|$)", f.name.lower())]
    return max(train or candidates, key=lambda f: f.size or 0)


@contextmanager
def downloaded(repo_id: str, filename: str) -> Iterator[Path]:
    """One file of a dataset repository, in a temporary folder removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="vibeflow-hub-"))
    try:
        try:
            path = _api().hf_hub_download(
                repo_id, filename, repo_type="dataset", cache_dir=folder / "cache"
            )
        except Exception as exc:
            raise _explain(exc) from exc
        yield Path(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
