"""Welcome → the Brainstorm Agent's recommendation (offline recommender) → data → a saved configuration with an estimate."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_from_a_goal_to_a_validated_configuration(
    live_server_url, live_worker, browser_page, screenshot
):
    page = browser_page
    page.goto(live_server_url + "/accounts/signup/")
    page.get_by_label("Email:").fill("ada@example.com")
    page.get_by_label("Password:", exact=True).fill("analytical-engine-1843")
    page.get_by_label("Password (again):").fill("analytical-engine-1843")
    page.get_by_role("button", name=re.compile("Sign Up", re.I)).click()

    page.get_by_label("Tell me about your use case in plain English").fill(
        "I want a customer support bot that answers our users' questions"
    )
    page.get_by_role("button", name="Get Recommendation").click()
    agent = page.locator("#agent-panel")
    expect(agent.get_by_text("How many training examples do you have?")).to_be_visible(
        timeout=20000
    )

    page.get_by_label("Message to the Brainstorm Agent").fill(
        "1K examples, accuracy is key, I have an A100 GPU"
    )
    agent.get_by_role("button", name="Send").click()
    expect(agent.get_by_text("I recommend Mistral 7B Instruct v0.3 with LORA.")).to_be_visible(
        timeout=20000
    )
    screenshot("agent-1-recommendation")

    # Data first, so the estimate has examples and tokens to count.
    page.get_by_role("link", name="Add training data").click()
    page.locator("li", has_text="Customer support replies").get_by_role(
        "button", name="Use this sample"
    ).click()
    expect(page.get_by_role("heading", name="Data Quality Report")).to_be_visible(timeout=60000)
    page.get_by_role("button", name="Looks Good!").click()

    page.get_by_role("link", name="All data of").click()
    page.get_by_role("link", name="Back to the project").click()
    page.locator("#agent-panel").get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", name="Training Configuration")).to_be_visible()
    expect(page.get_by_text("Cost Estimate")).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"VibeFlow's reference rate \(800 tokens/s for lora"))
    ).to_be_attached()
    expect(page.get_by_text("✅ Training Data: 238 examples loaded")).to_be_visible()

    page.get_by_role("button", name="Save Config").click()
    expect(page.get_by_text("Configuration saved.")).to_be_visible()
    screenshot("agent-2-configuration")
