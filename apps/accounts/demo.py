# The demo account seeded by ./vibeflow run and printed on start; local demo data only.
DEMO_EMAIL = "demo@vibeflow.local"
DEMO_PASSWORD = "vibeflow-demo"
