"""The agent with the real google-genai client against a local Gemini, and its offline fallback."""

import pytest
from django.urls import reverse

from apps.brainstorm import parsing
from apps.brainstorm.models import Message
from apps.projects.models import Project
from apps.training.models import TrainingRun
from tests.fakes.gemini import FakeGemini

pytestmark = pytest.mark.django_db

MISTRAL_ON_A100 = {
    "base_model": "mistral-7b-instruct",
    "method": "lora",
    "hardware": "a100-40gb",
    "lora_r": 8,
    "lora_alpha": 16,
    "target_modules": ["q_proj", "v_proj"],
    "learning_rate": 0.0005,
    "batch_size": 8,
    "gradient_accumulation": 1,
    "epochs": 3,
    "reasons": ["Mistral follows instructions well"],
    "risks": ["1K examples is modest"],
}


@pytest.fixture
def gemini(settings):
    with FakeGemini() as fake:
        settings.GEMINI_API_KEY = "test-key"
        settings.GEMINI_BASE_URL = fake.url
        settings.GEMINI_TIMEOUT_S = 1
        yield fake


def send(client, project, text):
    return client.post(
        reverse("agent_send", args=[project.pk]), {"text": text}, headers={"HX-Request": "true"}
    )


@pytest.mark.parametrize(
    "text, examples, priority, gpu",
    [
        ("1K examples, accuracy is key, I have an A100 GPU", 1000, "accuracy", "a100-40gb"),
        ("about 25,000 training examples, cheap please, RTX 4090", 25000, "cost", "rtx-4090"),
        ("100K+ rows and an H100, speed matters", 100000, "speed", "h100"),
        ("I don't have a GPU", None, None, "cpu"),
    ],
)
def test_it_reads_what_the_user_said(text, examples, priority, gpu):
    assert (parsing.examples(text), parsing.priority(text), parsing.gpu(text)) == (
        examples,
        priority,
        gpu,
    )


def test_offline_the_agent_asks_then_recommends(login, owner, project):
    client = login(owner)
    html = send(
        client, project, "I want to fine-tune a model for customer support replies"
    ).content.decode()
    assert "How many training examples" in html and "offline recommender" in html
    assert "no Gemini key is configured" in html
    html = send(
        client, project, "1K examples, accuracy is key, I have an A100 GPU"
    ).content.decode()
    reply = Message.objects.filter(role="assistant").last()
    assert reply.recommendation["base_model"] == "mistral-7b-instruct"
    assert reply.recommendation["hardware"] == "a100-40gb"
    assert "Start" in html and "Learn More" in html


def test_gemini_answers_with_a_structured_recommendation(login, owner, project, gemini):
    gemini.answer = {
        "message": "Mistral is a good fit.",
        "questions": [],
        "recommendation": MISTRAL_ON_A100,
    }
    send(login(owner), project, "Customer support bot, 1K examples, accuracy, A100")
    reply = Message.objects.filter(role="assistant").get()
    assert reply.source == "gemini:gemini-2.5-flash" and reply.fallback_reason == ""
    assert reply.recommendation["base_model"] == "mistral-7b-instruct"
    request = gemini.requests[0]
    assert request["path"].endswith("models/gemini-2.5-flash:generateContent")
    assert request["key"] == "test-key"
    assert request["body"]["generationConfig"]["responseMimeType"] == "application/json"
    assert "VibeFlow's AI tutor" in request["body"]["systemInstruction"]["parts"][0]["text"]


def test_an_impossible_gemini_recommendation_is_made_to_fit(login, owner, project, gemini):
    gemini.answer = {
        "message": "Go big.",
        "questions": [],
        "recommendation": {
            **MISTRAL_ON_A100,
            "base_model": "llama-3.1-70b-instruct",
            "hardware": "t4",
        },
    }
    send(login(owner), project, "legal QA, 200K examples, accuracy")
    rec = Message.objects.filter(role="assistant").get().recommendation
    assert rec["method"] == "qlora" and rec["hardware"] in ("a100-80gb", "h100")


@pytest.mark.parametrize(
    "mode, reason",
    [("error", "error (500)"), ("slow", "did not answer in time"), ("malformed", "not the JSON")],
)
def test_gemini_failures_fall_back_offline_and_say_why(login, owner, project, gemini, mode, reason):
    gemini.mode = mode
    html = send(
        login(owner), project, "customer support, 1K examples, A100, accuracy"
    ).content.decode()
    reply = Message.objects.filter(role="assistant").get()
    assert reply.source == "offline"
    assert reason in reply.fallback_reason
    assert "Gemini not used" in html


def test_gemini_outside_the_catalog_falls_back(login, owner, project, gemini):
    gemini.answer = {
        "message": "x",
        "questions": [],
        "recommendation": {**MISTRAL_ON_A100, "base_model": "gpt-9"},
    }
    send(login(owner), project, "support, 1K examples, A100, accuracy")
    assert "outside the catalog" in Message.objects.filter(role="assistant").get().fallback_reason


def test_start_turns_the_recommendation_into_a_draft(login, owner, project):
    client = login(owner)
    send(client, project, "customer support, 1K examples, accuracy, A100")
    reply = Message.objects.filter(role="assistant").get()
    response = client.post(reverse("agent_start", args=[reply.pk]))
    run = TrainingRun.objects.get()
    assert response.url == reverse("run_config", args=[run.pk])
    assert (run.base_model.slug, run.hardware.slug, run.epochs) == (
        "mistral-7b-instruct",
        "a100-40gb",
        3,
    )


@pytest.mark.parametrize(
    "text, message", [("", "Type a question"), ("x" * 2001, "under 2000 characters")]
)
def test_bad_messages_are_refused(login, owner, project, text, message):
    response = send(login(owner), project, text)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Message.objects.exists()


def test_clear_empties_the_conversation(login, owner, project):
    client = login(owner)
    send(client, project, "hello there agent")
    client.post(reverse("agent_clear", args=[project.pk]))
    assert not Message.objects.exists()


def test_the_welcome_goal_is_the_first_message(login, owner, team):
    login(owner).post(
        reverse("welcome"), {"use_case": "I want a model for customer support replies"}
    )
    project = Project.objects.get(team=team)
    assert [m.role for m in project.agent_messages.all()] == ["user", "assistant"]


def test_viewers_and_outsiders(login, viewer, outsider, project):
    Message.objects.create(
        project=project,
        role="assistant",
        text="x",
        recommendation={"base_model": "mistral-7b-instruct"},
    )
    reply = Message.objects.get()
    client = login(viewer)
    assert (
        client.post(reverse("agent_send", args=[project.pk]), {"text": "hi there"}).status_code
        == 403
    )
    assert client.post(reverse("agent_start", args=[reply.pk])).status_code == 403
    client = login(outsider)
    assert (
        client.post(reverse("agent_send", args=[project.pk]), {"text": "hi there"}).status_code
        == 404
    )
    assert client.post(reverse("agent_clear", args=[project.pk])).status_code == 404
    assert client.post(reverse("agent_start", args=[reply.pk])).status_code == 404
    assert client.post(reverse("agent_start", args=[999999])).status_code == 404
    assert Message.objects.count() == 1 and not TrainingRun.objects.exists()
