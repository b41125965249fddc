import pytest
from django.urls import reverse

from apps.catalog.models import BaseModel, Hardware

pytestmark = pytest.mark.django_db


def test_the_catalog_holds_the_models_and_hardware_users_ask_for():
    slugs = set(BaseModel.objects.values_list("slug", flat=True))
    assert {
        "smollm2-135m-instruct",
        "mistral-7b-instruct",
        "llama-3.1-70b-instruct",
        "phi-3-mini-4k-instruct",
        "qwen2.5-7b-instruct",
        "llama-2-13b",
    } <= slugs
    assert BaseModel.objects.get(slug="smollm2-135m-instruct").bundled
    assert set(Hardware.objects.values_list("slug", flat=True)) == {
        "t4",
        "rtx-4090",
        "a100-40gb",
        "l40s",
        "a100-80gb",
        "h100",
        "cpu",
    }
    assert all(h.price_source for h in Hardware.objects.all())


def test_the_list_filters_by_size_speed_cost_and_type(login, owner):
    client = login(owner)
    html = client.get(reverse("catalog"), {"size": "large"}).content.decode()
    assert "Llama 3.1 70B Instruct" in html and "SmolLM2 135M" not in html
    html = client.get(
        reverse("catalog"), {"kind": "small", "speed": "4"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert "Phi-3 mini" in html and "Mistral" not in html
    html = client.get(reverse("catalog"), {"cost": "1", "kind": "chat"}).content.decode()
    assert "Mistral 7B" in html and "Llama 3.1 8B" not in html


def test_bad_filter_values_are_ignored(login, owner):
    response = login(owner).get(
        reverse("catalog"), {"size": "huge", "speed": "'; drop", "kind": "x"}
    )
    assert response.status_code == 200
    assert "Mistral 7B" in response.content.decode()


def test_the_detail_page_shows_vram_and_fit_per_gpu(login, owner):
    html = login(owner).get(reverse("catalog_model", args=["mistral-7b-instruct"])).content.decode()
    assert "30.0 GB" in html  # LoRA
    assert "needs QLoRA" in html and "fits" in html


def test_an_unknown_model_is_404(login, owner):
    assert login(owner).get(reverse("catalog_model", args=["gpt-9"])).status_code == 404


def test_compare_two_or_three(login, owner):
    client = login(owner)
    html = client.get(
        reverse("catalog_compare"), {"m": ["mistral-7b-instruct", "phi-3-mini-4k-instruct"]}
    ).content.decode()
    assert "Mistral 7B Instruct v0.3" in html and "Phi-3 mini" in html and "VRAM qlora" in html
    response = client.get(reverse("catalog_compare"), {"m": ["mistral-7b-instruct"]})
    assert response.status_code == 400 and "Pick two or three" in response.content.decode()
    response = client.get(
        reverse("catalog_compare"), {"m": ["a", "b", "c", "d", "mistral-7b-instruct"]}
    )
    assert response.status_code == 400


def test_the_cpu_only_fits_small_models_with_lora():
    cpu = Hardware.objects.get(slug="cpu")
    assert cpu.fit_label(BaseModel.objects.get(slug="smollm2-135m-instruct"), "lora") == "fits"
    assert (
        cpu.fit_label(BaseModel.objects.get(slug="smollm2-135m-instruct"), "qlora")
        == "does not fit"
    )
    assert (
        cpu.fit_label(BaseModel.objects.get(slug="mistral-7b-instruct"), "lora") == "does not fit"
    )


def test_the_catalog_needs_login(client):
    assert client.get(reverse("catalog")).status_code == 302
