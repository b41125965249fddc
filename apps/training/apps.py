from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "apps.training"
    label = "training"

    def ready(self):
        from apps.billing.signals import budget_exhausted, running_cost

        from .budget import answer_running_cost, stop_for_budget

        budget_exhausted.connect(stop_for_budget, dispatch_uid="stop-runs-for-budget")
        running_cost.connect(answer_running_cost, dispatch_uid="running-runs-cost")
