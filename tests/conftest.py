"""Shared fixtures: real PostgreSQL, real Redis, a real Celery worker, and the four
people every permission test needs (owner, member, viewer of one team, and an outsider)."""

from __future__ import annotations

import pytest
from django.conf import settings

from apps.accounts.models import Membership, Role, Team, User
from apps.projects.models import Project

PASSWORD = "correct-horse-battery-9"

_can_create_databases: bool | None = None


def _role_can_create_databases(django_db_blocker) -> bool:
    """CI's PostgreSQL role owns the `test` database but may not create databases."""
    global _can_create_databases
    if _can_create_databases is None:
        from django.db import connection

        with django_db_blocker.unblock():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
                )
                _can_create_databases = bool(cursor.fetchone()[0])
            connection.close()
    return _can_create_databases


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, django_db_blocker):
    # A role that cannot CREATE DATABASE runs the suite in its own database,
    # which is migrated in place and emptied by each transactional test.
    if not _role_can_create_databases(django_db_blocker):
        db = settings.DATABASES["default"]
        db.setdefault("TEST", {})["NAME"] = db["NAME"]


@pytest.fixture(scope="session")
def django_db_keepdb(request, django_db_blocker) -> bool:
    return bool(request.config.getvalue("reuse_db")) or not _role_can_create_databases(
        django_db_blocker
    )


def make_user(email: str) -> User:
    return User.objects.create_user(email, PASSWORD)


@pytest.fixture
def owner(db):
    return make_user("owner@example.com")


@pytest.fixture
def team(owner):
    # The owner's personal team, made by the sign-up signal.
    return Membership.objects.get(user=owner, team__personal=True).team


@pytest.fixture
def member(team):
    user = make_user("member@example.com")
    Membership.objects.create(team=team, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def admin_user(team):
    user = make_user("admin@example.com")
    Membership.objects.create(team=team, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def viewer(team):
    user = make_user("viewer@example.com")
    Membership.objects.create(team=team, user=user, role=Role.VIEWER)
    return user


@pytest.fixture
def outsider(db):
    return make_user("outsider@example.com")


@pytest.fixture
def outsider_team(outsider) -> Team:
    return Membership.objects.get(user=outsider, team__personal=True).team


@pytest.fixture
def project(team, owner):
    return Project.objects.create(
        team=team, name="Support Bot", goal="Answer support e-mails", created_by=owner
    )


@pytest.fixture(autouse=True)
def _gateway_logs_inline(settings):
    """In-process tests hold their transaction on their own connection: a background thread's
    connection could not see their rows. Daphne in the browser tests logs in the background."""
    settings.GATEWAY_LOG_IN_BACKGROUND = False


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def seeded_catalog(transactional_db):
    """Transactional tests flush every table afterwards, the migration-seeded catalog included;
    tests that need it after such a flush seed it again."""
    from apps.billing.models import Plan
    from apps.billing.plans import load as load_plans
    from apps.catalog.models import BaseModel, Hardware
    from apps.catalog.seed import load

    load(BaseModel, Hardware)
    load_plans(Plan)


@pytest.fixture
def celery_worker_thread(transactional_db, seeded_catalog):
    """A real Celery worker consuming the real Redis broker, in a thread of this process."""
    from celery.contrib.testing.worker import start_worker

    from vibeflow_site.celery import app

    with start_worker(
        app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10
    ) as worker:
        yield worker


@pytest.fixture(scope="session")
def bundled_adapters(tmp_path_factory):
    """Two LoRA adapters of the bundled model with random updates (B is not zero): versions to
    branch from and merge without training them (tests/training/test_history.py, the e2e)."""
    import torch
    from django.conf import settings
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workers.models.bundled import ensure_bundled_model

    base_dir = ensure_bundled_model(settings.MODEL_CACHE_DIR)
    out = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        peft_model = get_peft_model(
            model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])
        )
        with torch.no_grad():
            for name, param in peft_model.named_parameters():
                if "lora_B" in name:
                    param.normal_(0, 0.01)
        folder = tmp_path_factory.mktemp(f"adapter-{seed}")
        peft_model.save_pretrained(folder)
        AutoTokenizer.from_pretrained(base_dir).save_pretrained(folder)
        out.append(str(folder))
    return out


# The tiny random model for every test that needs "a causal LM".
from tests.tiny_model import chat_files, tiny_model_dir  # noqa: E402, F401
