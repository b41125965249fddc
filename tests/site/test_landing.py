"""`/` for a visitor: what VibeFlow does and the way in, in the site's layout. Logged-in users
keep going to their projects (tests/projects/test_projects.py)."""

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_visitor_sees_what_vibeflow_does_and_how(client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Fine-tune an open LLM and ship it behind an API" in html
    steps = [
        html.index(f"<strong>{step}</strong>")
        for step in ("Describe", "Upload", "Train", "Evaluate", "Deploy")
    ]
    assert steps == sorted(steps)  # the path, in order
    assert f'class="btn btn-primary" href="{reverse("account_signup")}">Sign up</a>' in html
    assert f'href="{reverse("account_login")}">Log in</a>' in html
    # The site's layout and stylesheet, not a bare form.
    assert "css/vibeflow.css" in html and 'class="topbar"' in html and 'id="main"' in html
    assert 'name="password"' not in html


def test_the_landing_page_styles_use_the_design_tokens():
    css = (Path(settings.BASE_DIR) / "static" / "css" / "vibeflow.css").read_text()
    landing = css[css.index(".landing {") : css.index("/* sign-in pages")]
    assert "var(--space)" in landing and "var(--color-primary)" in landing
