"""The IDE layout: CSRF for htmx, accessibility hooks, design tokens, pages without JavaScript."""

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_htmx_requests_carry_the_csrf_token(login, owner, project):
    html = login(owner).get(reverse("project_detail", args=[project.pk])).content.decode()
    assert 'hx-headers=\'{"x-csrftoken": "' in html
    assert "django_htmx/htmx-2.min.js" in html
    assert "django_htmx/ext/hx-ws-2.min.js" in html


def test_the_layout_has_three_labelled_regions_and_a_skip_link(login, owner, project):
    html = login(owner).get(reverse("project_detail", args=[project.pk])).content.decode()
    assert 'class="skip-link" href="#main"' in html
    assert 'aria-label="Projects"' in html
    assert 'id="main"' in html
    assert 'aria-label="Details"' in html
    assert 'aria-label="Switch team"' in html


def test_forms_work_without_javascript(login, owner, project):
    html = login(owner).get(reverse("project_detail", args=[project.pk])).content.decode()
    # Every htmx link keeps a real href, every form a real action.
    assert f'href="{reverse("project_rename", args=[project.pk])}"' in html
    assert f'action="{reverse("project_archive", args=[project.pk])}"' in html
    assert f'action="{reverse("team_switch")}"' in html


def test_csrf_is_enforced(owner, project):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(reverse("project_rename", args=[project.pk]), {"name": "No token"})
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.name == "Support Bot"


def test_the_stylesheet_holds_the_spec_tokens():
    css = (Path(settings.BASE_DIR) / "static" / "css" / "vibeflow.css").read_text()
    for token in [
        "#3B82F6",
        "#8B5CF6",
        "#EF4444",
        "#F59E0B",
        "#10B981",
        "--font-size: 14px",
        "--space: 8px",
        "--radius: 4px",
    ]:
        assert token in css
    assert "@media (max-width: 1199px)" in css
    assert "@media (max-width: 767px)" in css
    assert ":focus-visible" in css


def test_the_404_page_offers_a_way_back(login, owner):
    response = login(owner).get("/no/such/page/")
    assert response.status_code == 404
    assert "Back to your projects" in response.content.decode()


def test_a_viewers_403_explains_itself(login, viewer, project):
    response = login(viewer).post(reverse("project_rename", args=[project.pk]), {"name": "X"})
    assert response.status_code == 403
    assert "Viewers can look but not change anything" in response.content.decode()
