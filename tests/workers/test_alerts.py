from workers.training.alerts import AlertWatch, overfitting_risk


def feed(watch, points):
    return [code for p in points for code, _ in watch.observe(p)]


def test_loss_rising_for_five_steps_alerts_once():
    watch = AlertWatch()
    codes = feed(watch, [{"loss": v} for v in (3.0, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6)])
    assert codes == ["loss_rising"]


def test_four_rises_are_not_enough():
    assert feed(AlertWatch(), [{"loss": v} for v in (2.0, 2.1, 2.2, 2.3, 2.4)]) == []


def test_divergence_by_factor_or_nan():
    assert feed(AlertWatch(), [{"loss": 1.0}, {"loss": 10.5}]) == ["diverging"]
    assert feed(AlertWatch(), [{"loss": 1.0}, {"loss": float("nan")}]) == ["diverging"]


def test_eval_rising_while_train_falls_is_overfitting():
    points = [
        {"loss": 2.0},
        {"loss": 1.8, "eval_loss": 2.0},
        {"loss": 1.5},
        {"loss": 1.2, "eval_loss": 2.3},
    ]
    assert feed(AlertWatch(), points) == ["overfitting"]


def test_gpu_memory_above_95_percent():
    assert feed(AlertWatch(), [{"gpu_memory_used": 38.5, "gpu_memory_total": 40}]) == ["gpu_memory"]
    assert feed(AlertWatch(), [{"gpu_memory_used": 30, "gpu_memory_total": 40}]) == []


def test_overfitting_risk_from_size_and_epochs():
    assert "small (1,247" not in (overfitting_risk(1247, 3) or "")
    assert overfitting_risk(500, 10).startswith("Your dataset is small (500 examples)")
    assert overfitting_risk(5000, 5) is not None
    assert overfitting_risk(50_000, 2) is None


def clocked(rates: list[float], every: float = 10.0) -> list[dict]:
    """Points ``every`` seconds apart whose stretches ran at ``rates`` tokens/s."""
    points, tokens = [{"elapsed_s": 0.0, "tokens_seen": 0}], 0
    for i, rate in enumerate(rates, start=1):
        tokens += int(rate * every)
        points.append({"elapsed_s": i * every, "tokens_seen": tokens})
    return points


def test_very_slow_training_when_the_last_stretches_fall_under_a_third_of_the_usual():
    assert feed(AlertWatch(), clocked([450, 460, 440, 455, 100, 90, 95])) == ["slow"]
    # One slow stretch (an evaluation, a checkpoint being written) is not it.
    assert feed(AlertWatch(), clocked([450, 460, 440, 455, 100, 450, 95, 460])) == []
    # A run that is slow from the start has nothing to compare with: no alert.
    assert feed(AlertWatch(), clocked([90, 95, 100, 92, 91, 90])) == []
    # An eval-only point (no new tokens) or a resume (the clock restarts) is skipped.
    points = clocked([450, 460, 440, 455])
    points.append(dict(points[-1]))
    points.append({"elapsed_s": 5.0, "tokens_seen": 100})
    assert feed(AlertWatch(), points) == []
    watch = AlertWatch()
    raised = [m for p in clocked([450, 460, 440, 455, 100, 90, 95]) for _, m in watch.observe(p)]
    assert "swapping memory" in raised[0] and "smaller batch size" in raised[0]
