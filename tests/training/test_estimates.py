"""The estimate formula against arithmetic done by hand."""

import pytest

from apps.training.estimates import (
    CPU_DEFAULT_TOKENS_PER_SECOND,
    FIRST_RUN_SECONDS,
    Inputs,
    estimate,
    first_run,
    format_duration,
    storage_cost_per_month,
)


def spec_example(**changes):
    # docs/PRODUCT.md 3.4: 1,247 examples, Mistral-7B (7.25B), LoRA, A100 40GB at $0.50/h, 3 epochs.
    values = dict(
        examples=1247,
        avg_tokens_per_example=123,
        epochs=3,
        params_billions=7.0,
        method="lora",
        hourly_price=0.5,
        gpu_slug="a100-40gb",
    )
    values.update(changes)
    return Inputs(**values)


def test_it_follows_the_formula():
    e = estimate(spec_example())
    # tokens = 1247 × 123 × 3 = 460,143
    assert e.tokens == 460_143
    # 800 tokens/s for LoRA on a 7B model on an A100
    assert e.tokens_per_second == 800
    # seconds = 460,143 / 800 × 1.2 = 690.2145
    assert e.seconds == pytest.approx(690.2145)
    # cost = 690.2145 / 3600 × 0.5 = 0.09586...
    assert e.cost == pytest.approx(0.0958631, rel=1e-6)
    assert e.cost_low == pytest.approx(e.cost * 0.85)
    assert e.cost_high == pytest.approx(e.cost * 1.15)
    assert e.cost_per_example == pytest.approx(e.cost / 1247)
    assert "1,247 examples × 123 tokens × 3 epochs" in e.sources["tokens"]


def test_throughput_scales_with_model_size_method_and_gpu():
    assert estimate(spec_example(params_billions=14.0)).tokens_per_second == 400  # half as fast
    assert estimate(spec_example(method="qlora")).tokens_per_second == 400
    assert estimate(spec_example(method="full")).tokens_per_second == 200
    assert estimate(spec_example(gpu_slug="l40s")).tokens_per_second == pytest.approx(776)


def test_measured_throughput_replaces_the_table():
    e = estimate(spec_example(measured_tokens_per_second=1000, measured_runs=3))
    assert e.tokens_per_second == 1000
    assert e.throughput_source == "measured on 3 past runs of this setup"


def test_a_gpu_without_figures_needs_a_measurement():
    with pytest.raises(ValueError, match="measured run"):
        estimate(spec_example(gpu_slug="b200"))
    assert (
        estimate(
            spec_example(gpu_slug="b200", measured_tokens_per_second=1300, measured_runs=1)
        ).tokens_per_second
        == 1300
    )


def cpu_example(**changes):
    """About 1,000 examples of 600 tokens on this machine's CPU: 3 epochs take over an hour."""
    values = dict(
        examples=1000,
        avg_tokens_per_example=600,
        epochs=3,
        params_billions=0.135,
        method="lora",
        hourly_price=0.0,
        gpu_slug="cpu",
    )
    values.update(changes)
    return Inputs(**values)


def test_the_cpu_has_a_stated_default_until_a_run_measures_it():
    e = estimate(cpu_example())
    assert e.assumed and e.tokens_per_second == CPU_DEFAULT_TOKENS_PER_SECOND == 458
    assert e.throughput_source.startswith("assumed: 458 tokens/s")
    assert "first run on this machine measures" in e.throughput_source
    # measured the same way as a past run (whole-run wall time): no overhead on top
    assert e.seconds == pytest.approx(1000 * 600 * 3 / 458)  # 3,930 s: over an hour
    measured = estimate(cpu_example(measured_tokens_per_second=100, measured_runs=2))
    assert not measured.assumed and measured.tokens_per_second == 100
    # a larger model on the CPU is slower in proportion
    assert estimate(cpu_example(params_billions=0.27)).tokens_per_second == pytest.approx(458 / 2)


def test_a_first_run_that_fits_is_the_whole_run():
    plan = first_run(cpu_example(examples=300, avg_tokens_per_example=82, epochs=5))
    # 300 × 82 × 5 / 458 = 269 s: under ten minutes as it is
    assert not plan.reduced and plan.max_examples == 0
    assert (plan.quick.examples, plan.quick.epochs) == (300, 5)


def test_a_first_run_takes_fewer_epochs_over_every_example_when_one_fits():
    plan = first_run(cpu_example(examples=2000, avg_tokens_per_example=82))
    # one epoch: 2,000 × 82 / 458 = 358 s; two would be 716 s, over ten minutes
    assert plan.reduced and (plan.quick.examples, plan.quick.epochs) == (2000, 1)
    assert plan.max_examples == 0
    assert plan.quick.estimate.seconds == pytest.approx(2000 * 82 / 458)
    assert (plan.longer.examples, plan.longer.epochs) == (2000, 3)
    assert plan.longer.estimate.seconds == pytest.approx(3 * 2000 * 82 / 458)


def test_a_first_run_samples_the_examples_when_one_epoch_is_too_long():
    plan = first_run(cpu_example())
    # one epoch over all takes 1,310 s; 600 s of it is 458 examples, rounded down to 450
    assert (plan.quick.examples, plan.quick.epochs, plan.max_examples) == (450, 1, 450)
    quick = plan.quick.estimate
    assert quick.seconds == pytest.approx(450 * 600 / 458) and quick.seconds <= FIRST_RUN_SECONDS
    assert plan.longer.estimate.seconds == pytest.approx(1000 * 600 * 3 / 458)
    assert plan.which(450, 1) == "quick" and plan.which(0, 3) == "longer"
    assert plan.which(5000, 3) == "longer" and plan.which(0, 2) == ""
    # 1,000 × 612 tokens: the share that fits is 449.0 examples, rounded down to 440
    assert first_run(cpu_example(avg_tokens_per_example=612)).quick.examples == 440


def test_a_sample_never_leaves_out_a_few_examples_or_drops_below_a_useful_size():
    # 1 epoch over all: 1,000 × 298 / 458 = 651 s; a sample of 920 would save 52 s: take all
    plan = first_run(cpu_example(avg_tokens_per_example=298))
    assert (plan.quick.examples, plan.quick.epochs, plan.max_examples) == (1000, 1, 0)
    # 20,000 tokens an example: 13 would fit; a run of 100 is the least worth drawing a curve of
    tiny = first_run(cpu_example(avg_tokens_per_example=20_000))
    assert tiny.quick.examples == 100 and tiny.quick.estimate.seconds > FIRST_RUN_SECONDS


@pytest.mark.parametrize(
    "field, value",
    [
        ("examples", 0),
        ("avg_tokens_per_example", 0),
        ("epochs", 0),
        ("epochs", 101),
        ("method", "dora"),
        ("hourly_price", -1),
    ],
)
def test_it_refuses_impossible_inputs(field, value):
    with pytest.raises(
        ValueError, match=field if field != "avg_tokens_per_example" else "avg_tokens"
    ):
        spec_example(**{field: value})


@pytest.mark.parametrize(
    "seconds, text", [(45, "45s"), (59.6, "1m"), (720, "12m"), (12120, "3h 22m"), (7200, "2h")]
)
def test_durations_read_like_the_spec(seconds, text):
    assert format_duration(seconds) == text


def test_storage_costs_ten_cents_a_gigabyte_month():
    assert storage_cost_per_month(2.4) == pytest.approx(0.24)


@pytest.mark.django_db
def test_past_runs_calibrate_the_estimate(queued_run):
    from apps.training.configuration import quote
    from apps.training.models import RunStatus, TrainingRun

    run = queued_run
    before = quote(run.dataset_version, run.base_model, run.hardware, run.method, 2)
    assert before.estimate.assumed and before.estimate.tokens_per_second == 458.0
    run.transition(RunStatus.RUNNING)
    run.transition(RunStatus.SUCCEEDED)
    TrainingRun.objects.filter(pk=run.pk).update(tokens_seen=3000, wall_seconds=12.0)
    after = quote(run.dataset_version, run.base_model, run.hardware, run.method, 2)
    assert after.estimate.tokens_per_second == 250.0
    assert after.estimate.throughput_source == "measured on 1 past run of this setup"
    assert not after.estimate.assumed
    # tokens / 250 tokens/s, with no overhead added on top of a measured wall time
    assert after.estimate.seconds == pytest.approx(after.estimate.tokens / 250.0)


@pytest.mark.django_db
def test_storage_is_computed_for_full_and_measured_for_adapters(queued_run, tmp_path):
    from apps.training.configuration import storage
    from apps.training.models import RunStatus, TrainingRun

    model = queued_run.base_model  # 0.135B parameters
    full = storage(model, "full", 8)
    assert full.size_gb == pytest.approx(0.27) and full.per_month == pytest.approx(0.027)
    assert "× 2 bytes" in full.source
    assert storage(model, "lora", 8).size_gb is None  # nothing measured yet, and it says so
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 2_000_000)
    queued_run.transition(RunStatus.RUNNING)
    queued_run.transition(RunStatus.SUCCEEDED)
    TrainingRun.objects.filter(pk=queued_run.pk).update(adapter_dir=str(adapter), lora_r=8)
    measured = storage(model, "lora", 8)
    assert measured.size_gb == pytest.approx(0.002) and measured.per_month == pytest.approx(0.0002)
    assert storage(model, "lora", 16).size_gb is None  # another rank, another size
