from tests.e2e.conftest import live_server_url  # noqa: F401  (a fixture)
