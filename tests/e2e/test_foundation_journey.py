"""Sign up, create a project, see it in the sidebar, watch it change live, switch teams."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_a_new_user_signs_up_creates_a_project_and_switches_team(
    live_server_url, browser_page, screenshot
):
    page = browser_page
    page.goto(live_server_url + "/")
    # A visitor lands on what VibeFlow is, with the way in.
    expect(page.get_by_role("heading", name=re.compile("Fine-tune an open LLM"))).to_be_visible()
    screenshot("00-landing")

    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Email:").fill("ada@example.com")
    page.get_by_label("Password:", exact=True).fill("analytical-engine-1843")
    page.get_by_label("Password (again):").fill("analytical-engine-1843")
    page.get_by_role("button", name=re.compile("Sign Up", re.I)).click()

    expect(page.get_by_role("heading", name="Let's tune your model")).to_be_visible()
    screenshot("01-welcome")

    page.get_by_role("link", name="+ New Project").click()
    page.get_by_label("Name").fill("Customer Support Bot")
    page.get_by_label("What should the model do?").fill("Reply to support e-mails in our tone")
    page.get_by_role("button", name="Create project").click()

    sidebar = page.get_by_role("navigation", name="Projects")
    expect(sidebar.get_by_text("Customer Support Bot")).to_be_visible()
    expect(sidebar.get_by_text("Draft")).to_be_visible()
    expect(page.get_by_text("no training runs yet")).to_be_visible()

    # Rename inline (htmx): the title swaps in place and the socket redraws the sidebar entry.
    page.get_by_role("link", name="Rename").click()
    page.get_by_label("Project name").fill("Support Replies")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Support Replies")).to_be_visible()
    expect(sidebar.get_by_text("Support Replies")).to_be_visible()
    screenshot("02-project-dashboard")

    # A second team, then switch between the two with the top-bar switcher.
    page.get_by_role("link", name="Teams").click()
    page.get_by_label("Team name").fill("Research Lab")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", name="Research Lab")).to_be_visible()
    page.goto(live_server_url + "/projects/")
    expect(sidebar.get_by_text("Support Replies")).to_have_count(0)
    expect(page.get_by_text("No projects in this team yet.")).to_be_visible()

    page.get_by_label("Current team").select_option(label="ada's team")
    expect(page.get_by_text("Switched to ada's team.")).to_be_visible()
    expect(sidebar.get_by_text("Support Replies")).to_be_visible()
    screenshot("03-switched-team")
