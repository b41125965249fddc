import pytest
from django.urls import reverse

from apps.projects.models import Project, ProjectStatus

pytestmark = pytest.mark.django_db


def test_home_sends_a_new_user_to_the_welcome_page(login, owner):
    response = login(owner).get(reverse("home"))
    assert response.url == reverse("welcome")


def test_home_lists_projects_once_there_are_some(login, owner, project):
    assert login(owner).get(reverse("home")).url == reverse("project_list")


def test_the_welcome_page_has_the_spec_wording(login, owner):
    html = login(owner).get(reverse("welcome")).content.decode()
    for text in ["Let's tune your model", "Get Recommendation", "Or browse models manually"]:
        assert text in html


def test_the_welcome_page_turns_the_goal_into_a_project(login, owner, team):
    goal = "I want a model that answers customer support questions in a friendly tone"
    response = login(owner).post(reverse("welcome"), {"use_case": goal})
    project = Project.objects.get(team=team)
    assert response.url == reverse("project_detail", args=[project.pk])
    assert project.goal == goal
    assert project.name == "Answers customer support questions in"


def test_the_welcome_page_asks_for_more_than_a_word(login, owner):
    response = login(owner).post(reverse("welcome"), {"use_case": "bot"})
    assert response.status_code == 400
    assert "at least 10 characters" in response.content.decode()
    assert not Project.objects.exists()


def test_it_creates_a_project_and_shows_it_in_the_sidebar(login, owner, team):
    client = login(owner)
    response = client.post(reverse("project_create"), {"name": "  Doc   Classifier ", "goal": ""})
    project = Project.objects.get(team=team)
    assert project.name == "Doc Classifier"
    assert project.status == ProjectStatus.DRAFT
    html = client.get(response.url).content.decode()
    assert f'id="nav-project-{project.pk}"' in html
    assert "Draft" in html
    assert project.created_at.strftime("%b") in html


def test_it_rejects_a_duplicate_name_in_the_same_team(login, owner, project):
    response = login(owner).post(reverse("project_create"), {"name": "support bot"})
    assert response.status_code == 400
    assert "already has a project named" in response.content.decode()
    assert Project.objects.count() == 1


def test_the_same_name_is_fine_in_another_team(login, outsider, project):
    response = login(outsider).post(reverse("project_create"), {"name": "Support Bot"})
    assert response.status_code == 302
    assert Project.objects.count() == 2


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_it_rejects_a_bad_name(login, owner, name):
    response = login(owner).post(reverse("project_create"), {"name": name})
    assert response.status_code == 400
    assert not Project.objects.exists()


def test_viewers_cannot_create_projects(login, viewer, team):
    client = login(viewer)
    client.post(reverse("team_switch"), {"team": str(team.pk)})
    assert client.post(reverse("project_create"), {"name": "Nope"}).status_code == 403
    assert (
        client.post(reverse("welcome"), {"use_case": "A model that does things well"}).status_code
        == 403
    )
    assert not Project.objects.exists()


def test_the_dashboard_shows_where_each_figure_comes_from(login, owner, project):
    html = login(owner).get(reverse("project_detail", args=[project.pk])).content.decode()
    for text in [
        "Total training time",
        "no training runs yet",
        "Total spend",
        "no usage recorded",
        "Current model",
    ]:
        assert text in html
    assert f'ws-connect="/ws/projects/{project.pk}/"' in html


def test_it_renames_with_htmx_and_returns_the_title(login, owner, project):
    response = login(owner).post(
        reverse("project_rename", args=[project.pk]),
        {"name": "Helpdesk"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Helpdesk" in response.content.decode()
    assert "projectChanged" in response["HX-Trigger"]
    project.refresh_from_db()
    assert project.name == "Helpdesk"


def test_it_renames_without_javascript(login, owner, project):
    client = login(owner)
    assert client.get(reverse("project_rename", args=[project.pk])).status_code == 200
    response = client.post(reverse("project_rename", args=[project.pk]), {"name": "Helpdesk"})
    assert response.url == reverse("project_detail", args=[project.pk])


def test_a_rename_to_a_taken_name_changes_nothing(login, owner, team, project):
    Project.objects.create(team=team, name="Other")
    response = login(owner).post(
        reverse("project_rename", args=[project.pk]),
        {"name": "OTHER"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    assert "already has a project named" in response.content.decode()
    project.refresh_from_db()
    assert project.name == "Support Bot"


def test_it_archives_and_unarchives(login, owner, project):
    client = login(owner)
    client.post(reverse("project_archive", args=[project.pk]), {"archived": "1"})
    project.refresh_from_db()
    assert project.is_archived
    html = client.get(reverse("project_list")).content.decode()
    assert f"nav-project-{project.pk}" not in html
    assert "Support Bot" in client.get(reverse("project_list") + "?archived=1").content.decode()
    client.post(reverse("project_archive", args=[project.pk]), {"archived": "0"})
    project.refresh_from_db()
    assert not project.is_archived


def test_delete_needs_the_exact_name(login, owner, project):
    client = login(owner)
    assert client.get(reverse("project_delete", args=[project.pk])).status_code == 200
    response = client.post(reverse("project_delete", args=[project.pk]), {"confirm": "support bot"})
    assert response.status_code == 400
    assert Project.objects.filter(pk=project.pk).exists()
    response = client.post(reverse("project_delete", args=[project.pk]), {"confirm": "Support Bot"})
    assert response.status_code == 302
    assert not Project.objects.filter(pk=project.pk).exists()


def test_viewers_can_look_but_not_change(login, viewer, project):
    client = login(viewer)
    assert client.get(reverse("project_detail", args=[project.pk])).status_code == 200
    assert (
        client.post(reverse("project_rename", args=[project.pk]), {"name": "X"}).status_code == 403
    )
    assert client.post(reverse("project_archive", args=[project.pk])).status_code == 403
    assert (
        client.post(
            reverse("project_delete", args=[project.pk]), {"confirm": "Support Bot"}
        ).status_code
        == 403
    )
    project.refresh_from_db()
    assert project.name == "Support Bot" and not project.is_archived


def test_members_can_change_projects(login, member, project):
    response = login(member).post(reverse("project_rename", args=[project.pk]), {"name": "Renamed"})
    assert response.status_code == 302


@pytest.mark.parametrize(
    "method, name, data",
    [
        ("get", "project_detail", {}),
        ("get", "project_rename", {}),
        ("post", "project_rename", {"name": "Stolen"}),
        ("post", "project_archive", {"archived": "1"}),
        ("get", "project_delete", {}),
        ("post", "project_delete", {"confirm": "Support Bot"}),
    ],
)
def test_another_teams_project_is_404(login, outsider, project, method, name, data):
    response = getattr(login(outsider), method)(reverse(name, args=[project.pk]), data)
    assert response.status_code == 404
    project.refresh_from_db()
    assert project.name == "Support Bot" and not project.is_archived


def test_an_unknown_project_is_404(login, owner):
    import uuid

    assert login(owner).get(reverse("project_detail", args=[uuid.uuid4()])).status_code == 404


def test_the_sidebar_lists_only_the_current_teams_projects(
    login, owner, outsider, outsider_team, project
):
    Project.objects.create(team=outsider_team, name="Secret Outsider Project")
    html = login(owner).get(reverse("project_list")).content.decode()
    assert "Support Bot" in html
    assert "Secret Outsider Project" not in html


def test_the_dashboard_counts_training_time_and_the_current_model(login, owner, project):
    from django.utils import timezone

    from apps.catalog.models import BaseModel, Hardware
    from apps.training.models import RunStatus, TrainingRun

    model, cpu = (
        BaseModel.objects.get(slug="smollm2-135m-instruct"),
        Hardware.objects.get(slug="cpu"),
    )
    TrainingRun.objects.create(
        project=project,
        number=1,
        base_model=model,
        hardware=cpu,
        status=RunStatus.STOPPED,
        wall_seconds=90,
    )
    TrainingRun.objects.create(
        project=project,
        number=2,
        base_model=model,
        hardware=cpu,
        status=RunStatus.SUCCEEDED,
        wall_seconds=630,
        finished_at=timezone.now(),
    )
    TrainingRun.objects.create(
        project=project, number=3, base_model=model, hardware=cpu
    )  # a draft: not counted
    html = login(owner).get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "12m" in html and "wall-clock time of 2 runs" in html
    assert "v2" in html and "SmolLM2 135M Instruct, trained" in html
