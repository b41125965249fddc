"""Words meant for us stay out of what users read: no docs/PRODUCT.md section numbers, no Procfile,
Celery or worker processes. Where a number comes from is said in plain words."""

from __future__ import annotations

import importlib
import re
from html import unescape
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.urls import reverse

from apps.brainstorm.agent import catalog_entries
from apps.brainstorm.recommender import Request, decide
from apps.catalog.models import Hardware
from apps.training import estimates

pytestmark = pytest.mark.django_db

OPERATOR_WORDS = re.compile(r"\bspec\b|\bspec's\b|Procfile|\bcelery\b|\bworkers?\b", re.I)
TEMPLATE_CODE = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}|<!--.*?-->", re.S)


def visible_text(template: str) -> str:
    """What a template can show: its text without template code, comments or tag attributes."""
    text = TEMPLATE_CODE.sub(" ", template)
    return re.sub(r"<[^>]*>", " ", text)


def test_no_template_talks_of_the_spec_the_procfile_or_workers():
    found = []
    for path in sorted((Path(settings.BASE_DIR) / "templates").rglob("*.html")):
        for number, line in enumerate(visible_text(path.read_text()).splitlines(), 1):
            if OPERATOR_WORDS.search(line):
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert found == []


def test_the_recommendation_says_where_its_numbers_come_from_in_plain_words():
    models, gpus = catalog_entries()
    rec = decide(Request("Answer support e-mails", 1_000, None, "cpu"), models, gpus)
    reasons = " ".join(rec.reasons)
    assert "Learning rate" in reasons and "VibeFlow's default" in reasons
    assert not OPERATOR_WORDS.search(reasons)


def test_the_throughput_source_is_a_reference_rate_not_a_spec_table():
    _, source = estimates.throughput(
        estimates.Inputs(
            examples=100,
            avg_tokens_per_example=50,
            epochs=1,
            params_billions=7,
            method="lora",
            hourly_price=0.5,
            gpu_slug="a100-40gb",
        )
    )
    assert source.startswith("VibeFlow's reference rate (800 tokens/s")
    assert not OPERATOR_WORDS.search(source)


def test_price_sources_name_where_a_price_comes_from():
    sources = set(Hardware.objects.values_list("price_source", flat=True))
    assert "VibeFlow's default list price" in sources
    assert not any(OPERATOR_WORDS.search(s) or "refresh prices" in s for s in sources)


def test_rows_seeded_with_the_old_wording_are_renamed():
    migration = importlib.import_module("apps.catalog.migrations.0003_plain_price_sources")
    Hardware.objects.filter(slug="a100-80gb").update(
        price_source="product spec's default price list"
    )
    Hardware.objects.filter(slug="h100").update(
        price_source="rough initial figure, not a quote: refresh prices from RunPod for the current one"
    )
    Hardware.objects.filter(slug="l40s").update(price_source="RunPod's lowest on-demand price")
    migration.rename(django_apps, None)
    sources = dict(Hardware.objects.values_list("slug", "price_source"))
    assert sources["a100-80gb"] == "VibeFlow's default list price"
    assert sources["h100"] == "VibeFlow's rough initial figure, not a quote from RunPod"
    assert sources["l40s"] == "RunPod's lowest on-demand price"  # refreshed since: kept


def test_the_hardware_page_explains_prices_without_operator_chores(login, owner):
    html = unescape(login(owner).get(reverse("catalog_hardware")).content.decode())
    assert "VibeFlow's default list price, Nov 1, 2025" in html
    assert "refresh job" not in html and "RunPod key" not in html
