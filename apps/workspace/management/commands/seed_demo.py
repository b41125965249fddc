"""Seed the demo account the run command prints, with a sample project. Safe to run again."""

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.demo import DEMO_EMAIL, DEMO_PASSWORD
from apps.accounts.models import Membership, User
from apps.projects.models import Project
from apps.workspace.demo import ensure_showcase

SAMPLE_NAME = "Customer Support Bot"
SAMPLE_GOAL = (
    "Answer customer support questions about our product in a short, friendly tone, "
    "the way our support team replies."
)


class Command(BaseCommand):
    help = "Create the demo account and its sample project if they are missing."

    def add_arguments(self, parser):
        parser.add_argument(
            "--showcase",
            action="store_true",
            help="Also a finished example project, trained, evaluated and deployed by the worker",
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            user = User.objects.filter(email=DEMO_EMAIL).first()
            if user is None:
                user = User.objects.create_user(DEMO_EMAIL, DEMO_PASSWORD, first_name="Demo")
                self.stdout.write(f"Created demo account {DEMO_EMAIL}")
            team = Membership.objects.get(user=user, team__personal=True).team
            project, created = Project.objects.get_or_create(
                team=team, name=SAMPLE_NAME, defaults={"goal": SAMPLE_GOAL, "created_by": user}
            )
            if created:
                self.stdout.write(f"Created sample project “{project.name}”")
            if options["showcase"] and ensure_showcase(user, team):
                self.stdout.write(
                    "Queued the finished example project: the worker trains, evaluates and "
                    "deploys it in the next few minutes"
                )
