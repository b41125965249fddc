"""The apps in their order, lowest first. An app imports only itself and the apps before it;
what an app must tell the apps after it travels as a signal the lower app declares in its
`signals.py` (docs/ARCHITECTURE.md). tests/site/test_structure.py holds the code to it."""

ORDER = (
    "accounts",  # users, teams, memberships: everything belongs to a team
    "catalog",  # base models, hardware, prices, the VRAM formula
    "projects",  # a team's projects and their status
    "billing",  # plans, the usage ledger, budgets, Stripe: what spenders write to and check
    "datasets",  # uploads, analysis, versions
    "training",  # runs, estimates, the engine's tasks
    "brainstorm",  # the agent that recommends a run and drafts it
    "evaluations",  # base vs tuned on a run's test split
    "endpoints",  # deployments, keys, the /v1/ gateway
    "workspace",  # what spans them all: dashboards, the usage page, the finished example
)
