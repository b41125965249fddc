"""The CPU inference server's command line: continuous batching within a memory budget."""

import pytest

from workers.serving import cpu_server
from workers.serving.cpu_server import batching_flags, kv_cache_gb_from_env, serve_command

GB = 2**30


def flag(command, name):
    return command[command.index(name) + 1]


def test_the_budget_becomes_a_fraction_of_this_machines_memory():
    flags = batching_flags(1.0, 24 * GB)
    assert flags[0] == "--continuous-batching"
    assert float(flag(flags, "--cb-max-memory-percent")) == pytest.approx(1 / 24, abs=1e-4)
    assert int(flag(flags, "--cb-max-batch-tokens")) == cpu_server.MAX_BATCH_TOKENS
    # Never more than transformers' own default share, whatever the budget says.
    assert float(flag(batching_flags(500, 24 * GB), "--cb-max-memory-percent")) == 0.9


def test_zero_turns_continuous_batching_off():
    assert batching_flags(0, 24 * GB) == ["--no-continuous-batching"]


def test_the_command_serves_on_cpu_with_idle_models_unloaded():
    command = serve_command(8123, kv_cache_gb=2.0, total_bytes=16 * GB)
    assert command[1] == "serve" and command[0].endswith("transformers")
    assert (flag(command, "--port"), flag(command, "--device")) == ("8123", "cpu")
    assert flag(command, "--host") == "127.0.0.1"
    assert int(flag(command, "--model-timeout")) == cpu_server.MODEL_TIMEOUT_S
    assert float(flag(command, "--cb-max-memory-percent")) == 0.125


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", cpu_server.DEFAULT_KV_CACHE_GB), ("2.5", 2.5), (" 0 ", 0.0)],
)
def test_the_budget_comes_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("INFERENCE_KV_CACHE_GB", raw)
    assert kv_cache_gb_from_env() == expected


@pytest.mark.parametrize("raw", ["lots", "-1", "1GB", "nan", "inf"])
def test_a_bad_budget_stops_the_server_with_a_sentence(monkeypatch, raw):
    monkeypatch.setenv("INFERENCE_KV_CACHE_GB", raw)
    with pytest.raises(SystemExit, match="INFERENCE_KV_CACHE_GB"):
        kv_cache_gb_from_env()
