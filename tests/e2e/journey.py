"""The whole journey a new user takes, as steps in a real browser: shared by the journey test
(tests/e2e/test_whole_journey.py) and the journey benchmark (bench/bench_journey.py).

sign up → describe the use case to the Brainstorm Agent → Start → upload the customer-support
sample → fix what the report found → review the configuration and its estimate (the test sets
fewer epochs there, as a user may) → train, watching the live curve → the evaluation that follows by itself shows
the tuned model beating the base model → deploy → create a key → call the endpoint with plain
HTTP and with the `openai` client → see the calls on the usage dashboard."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import expect

from apps.datasets.samples import SAMPLES

PASSWORD = "analytical-engine-1843"
QUESTION = "How do I reset my password?"


def walk(
    page,
    base_url: str,
    *,
    screenshot: Callable[[str], object] = lambda name: None,
    step: Callable[[str], None] = lambda name: None,
    email: str = "ada@example.com",
    epochs: int | None = None,
) -> None:
    """Every step, asserting what the user should see; ``step(name)`` marks where each begins.
    ``epochs`` changes the recommended number in the advanced settings before training (None:
    train as recommended)."""
    page.set_default_timeout(30_000)

    # 1. Sign up: the welcome page asks what the model should do.
    step("sign up")
    page.goto(base_url + "/accounts/signup/")
    page.get_by_label("Email:").fill(email)
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again):").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign Up", re.I)).click()
    expect(page.get_by_role("heading", name="Let's tune your model")).to_be_visible()
    screenshot("journey-01-welcome")

    # 2. The Brainstorm Agent (offline recommender): the goal, then the answers it asks for.
    step("brainstorm")
    page.get_by_label("Tell me about your use case in plain English").fill(
        "A customer support bot that answers our users' questions in our tone"
    )
    page.get_by_role("button", name="Get Recommendation").click()
    agent = page.locator("#agent-panel")
    expect(agent.get_by_text("How many training examples do you have?")).to_be_visible()
    page.get_by_label("Message to the Brainstorm Agent").fill(
        "About 300 examples, no GPU, on this machine"
    )
    agent.get_by_role("button", name="Send").click()
    expect(agent.get_by_text(re.compile(r"I recommend .+ with LORA\."))).to_be_visible()
    screenshot("journey-02-recommendation")

    # 3. Upload the customer-support sample CSV; accept the mapping, fix what was found.
    step("data")
    page.get_by_role("link", name="Add training data").click()
    page.set_input_files("#upload-file", str(SAMPLES["customer-support"]["file"]))
    expect(page.get_by_role("heading", name="Data Quality Report")).to_be_visible(timeout=90_000)
    expect(page.get_by_text("“customer_message” → Input Text")).to_be_visible()
    screenshot("journey-03-report")
    page.get_by_role("button", name="Remove Duplicates").click()
    expect(page.get_by_text("Duplicates: none")).to_be_visible(timeout=90_000)
    page.get_by_role("button", name="Looks Good!").click()
    screenshot("journey-04-fixed")

    # 4. Start from the recommendation: the configuration and its estimate.
    step("configuration")
    page.get_by_role("link", name="All data of").click()
    page.get_by_role("link", name="Back to the project").click()
    page.locator("#agent-panel").get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", name="Training Configuration")).to_be_visible()
    expect(page.get_by_text(re.compile(r"✅ Training Data: \d+ examples loaded"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Estimated Cost: \$0\.00"))).to_be_visible()
    screenshot("journey-05-configuration")
    if epochs is not None:
        page.get_by_text("Show Advanced Settings").click()
        page.get_by_label("Epochs", exact=True).fill(str(epochs))
        page.get_by_role("button", name="Save Config").click()
        expect(page.get_by_label("Epochs", exact=True)).to_have_value(str(epochs))

    # 5. Train with the recommended configuration, watching the live curve.
    step("training")
    page.get_by_role("button", name="Start Training").click()
    live = page.locator("#run-live-summary")
    expect(live).to_have_text(re.compile(r"^Step \d+/\d+"), timeout=240_000)
    expect(page.locator("#run-chart canvas").first).to_be_attached()
    screenshot("journey-06-live-curve")
    progress = page.locator("#run-progress")
    expect(progress.get_by_text("Status: Succeeded")).to_be_visible(timeout=1_500_000)
    screenshot("journey-07-trained")

    # 6. The evaluation ran by itself: the tuned model beats the base model.
    step("evaluation")
    progress.get_by_role("link", name=re.compile(r"Evaluation")).click()
    expect(page.get_by_role("heading", name="Overall Quality Score")).to_be_visible(timeout=600_000)
    expect(page.get_by_text(re.compile(r"\(\+\d+(\.\d)? points vs the base model"))).to_be_visible()
    screenshot("journey-08-evaluation")

    # 7. Deploy, then a key, shown once.
    step("deploy")
    page.get_by_role("button", name="Deploy").click()
    expect(page.get_by_role("heading", name="✅ Your model is live!")).to_be_visible(
        timeout=300_000
    )
    model = page.locator("#model-name").inner_text()
    page.get_by_role("button", name="Create API key").click()
    key = page.get_by_test_id("new-api-key").inner_text()
    screenshot("journey-09-live-with-key")

    # 8. Call it: plain HTTP (what curl sends), then the official openai client.
    step("call")
    answer = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={
            "model": model,
            "messages": [{"role": "user", "content": QUESTION}],
            "max_tokens": 24,
        },
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"].strip()
    from openai import OpenAI

    client = OpenAI(base_url=f"{base_url}/v1", api_key=key, timeout=120)
    chat = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": QUESTION}], max_tokens=24
    )
    assert chat.choices[0].message.content.strip() and chat.usage.total_tokens > 0

    # 9. The calls are on the usage dashboard.
    step("usage")
    page.get_by_role("link", name="Usage", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("Your usage"))).to_be_visible()
    calls = page.locator("dt", has_text="API calls").locator("xpath=following-sibling::dd")
    for _ in range(30):  # log rows are written just after each answer has gone out
        if calls.inner_text() == "2":
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(calls).to_have_text("2")
    expect(page.get_by_text("Models trained")).to_be_visible()
    screenshot("journey-10-usage")
