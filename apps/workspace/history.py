"""A project's versions as a commit history: what each version is (its message, written from
its record), how it scored against the version it came from, what it cost (billing's ledger),
and where it sits in the graph of branches and merges.

Everything shown is read from the database: scores from each version's latest finished
evaluation (the quality score of evaluations/summary.py, 0-100), cost from the usage events
billed for the run, time from its wall clock.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q

from apps.billing.models import UsageEvent
from apps.endpoints.models import Deployment, DeploymentStatus
from apps.evaluations.models import EvalStatus, Evaluation
from apps.evaluations.summary import verdict
from apps.projects.models import Project
from apps.training.estimates import format_duration
from apps.training.history import can_branch
from apps.training.models import MetricPoint, RunStatus, TrainingRun

from .dashboard import money

BASE = "base"  # the graph's root: the base model(s) versions trained from


@dataclass
class Version:
    run: TrainingRun | None  # None: the base model row
    title: str
    lines: list[str] = field(default_factory=list)
    score: float | None = None  # this version's quality score (0-100)
    base_score: float | None = None  # the base model's on the same evaluation
    cost: Decimal = Decimal(0)
    deployed_on: list[str] = field(default_factory=list)  # endpoint names serving it
    branchable: bool = False
    lane: int = 0
    row: int = 0

    @property
    def key(self):
        return self.run.pk if self.run else BASE

    @property
    def cost_label(self) -> str:
        return money(self.cost)

    @property
    def time_label(self) -> str:
        return format_duration(self.run.wall_seconds) if self.run and self.run.wall_seconds else ""

    @property
    def short_id(self) -> str:
        return self.run.pk.hex[:7] if self.run else "base"


@dataclass(frozen=True)
class Edge:
    child: object  # Version.key
    parent: object
    lane: int  # the lane its line runs in between the two rows
    merge: bool = False  # a merge's second parent


@dataclass
class Graph:
    versions: list[Version]  # newest first: the page's rows, top to bottom
    edges: list[Edge]
    lanes: int


def _scores(runs: list[TrainingRun]) -> dict:
    """Each run's latest finished evaluation: (score, base score)."""
    out = {}
    for evaluation in (
        Evaluation.objects.filter(run__in=runs, status=EvalStatus.SUCCEEDED)
        .order_by("run_id", "-finished_at")
        .distinct("run_id")
    ):
        summary = verdict(evaluation.result)
        out[evaluation.run_id] = (summary["score"], summary["base_score"])
    return out


def _costs(project: Project, runs: list[TrainingRun]) -> dict:
    """What the ledger billed for each run (every stretch of it)."""
    if not runs:
        return {}
    query = Q()
    for run in runs:
        query |= Q(source__startswith=f"run:{run.pk}:")
    out = defaultdict(Decimal)
    for source, cost in UsageEvent.objects.filter(query, project=project).values_list(
        "source", "cost"
    ):
        out[source.split(":")[1]] += cost
    return out


def _deployed(runs: list[TrainingRun]) -> dict:
    out = defaultdict(list)
    for run_id, name in Deployment.objects.filter(
        run__in=runs, status=DeploymentStatus.READY, weight__gt=0
    ).values_list("run_id", "endpoint__name"):
        out[run_id].append(name)
    return out


def _title(run: TrainingRun) -> str:
    data = run.dataset_version
    data_name = f"{data.dataset.name} v{data.number}" if data else "no data"
    if run.is_merge:
        other = f"v{run.merged_with.number}" if run.merged_with else "a deleted version"
        weights = (run.merge_options or {}).get("weights") or []
        share = f", {weights[0]:g}/{weights[1]:g}" if len(weights) == 2 else ""
        first = f"v{run.parent.number}" if run.parent else "a deleted version"
        method = run.get_merge_method_display().split(" (")[0]
        return f"Merge {first} and {other} ({method}{share})"
    if run.parent is not None:
        return f"Continue v{run.parent.number} on {data_name}"
    return f"Fine-tune {run.base_model.name} on {data_name}"


def _score_line(run, score, base_score, parent_score) -> str:
    if score is None:
        return (
            "Not evaluated yet"
            if run.status == RunStatus.SUCCEEDED
            else f"{run.get_status_display()}: no score"
        )
    if run.parent is not None and parent_score is not None:
        change = score - parent_score
        return f"Quality {parent_score:g} → {score:g} ({change:+g} vs v{run.parent.number})"
    if base_score is not None:
        return f"Quality {base_score:g} → {score:g} ({score - base_score:+g} vs the base model)"
    return f"Quality {score:g}/100"


def _method_line(run: TrainingRun) -> str:
    if run.is_merge:
        return f"LoRA rank {run.lora_r}, combined with peft; nothing trained"
    if run.method == "full":
        return "Full fine-tuning"
    return (
        f"{run.get_method_display()} rank {run.lora_r} on {run.target_modules.replace(',', ', ')}"
    )


def versions(project: Project, *, drafts: bool = False) -> list[Version]:
    """The base row and every version (not drafts or cancelled ones unless ``drafts``), oldest
    first, with their facts."""
    runs = project.runs.all()
    if not drafts:
        runs = runs.exclude(status__in=[RunStatus.DRAFT, RunStatus.CANCELLED])
    runs = list(
        runs.select_related(
            "base_model",
            "hardware",
            "dataset_version__dataset",
            "parent",
            "merged_with",
            "created_by",
        ).order_by("number")
    )
    scores, costs, deployed = _scores(runs), _costs(project, runs), _deployed(runs)
    bases = sorted({r.base_model.name for r in runs}) or ["no version yet"]
    out = [Version(None, f"Project created: {project.name}", [f"Base model: {', '.join(bases)}"])]
    for run in runs:
        score, base_score = scores.get(run.pk, (None, None))
        parent_score = scores.get(run.parent_id, (None, None))[0] if run.parent_id else None
        cost = costs.get(str(run.pk), Decimal(0))
        lines = [
            _score_line(run, score, base_score, parent_score),
            _method_line(run),
            f"Cost {money(cost)} · {format_duration(run.wall_seconds)} on {run.hardware.name}"
            if run.wall_seconds
            else f"Cost {money(cost)}",
        ]
        out.append(
            Version(
                run,
                _title(run),
                lines,
                score=score,
                base_score=base_score,
                cost=cost,
                deployed_on=deployed.get(run.pk, []),
                branchable=not can_branch(run),
            )
        )
    return out


def dashboard(project: Project) -> list[Version]:
    """The project page's list: every version newest first, drafts too, with score, cost, time."""
    return list(reversed(versions(project, drafts=True)[1:]))


def _parents(version: Version) -> list:
    run = version.run
    if run is None:
        return []
    first = run.parent_id or BASE
    return [first, run.merged_with_id] if run.merged_with_id else [first]


def layout(nodes: list[Version]) -> Graph:
    """Rows newest first; each version on a lane, each edge on a lane free over the rows it
    spans (a version continues its parent's lane when nothing else has). Pure: ``nodes`` are
    oldest first, parents before children, the base first."""
    count = len(nodes)
    row_of = {v.key: count - 1 - i for i, v in enumerate(nodes)}  # newest at row 0
    taken: set[tuple[int, int]] = set()  # (lane, row)
    lane_of: dict = {}
    edges: list[Edge] = []

    def free(lane: int, top: int, bottom: int, parent_lane: int | None) -> bool:
        return all(
            (lane, row) not in taken or (row == bottom and lane == parent_lane)
            for row in range(top, bottom + 1)
        )

    def pick(top: int, bottom: int, prefer: int | None, parent_lane: int | None) -> int:
        if prefer is not None and free(prefer, top, bottom, parent_lane):
            return prefer
        lane = 0
        while not free(lane, top, bottom, parent_lane):
            lane += 1
        return lane

    for version in nodes:
        row = row_of[version.key]
        parents = [p for p in _parents(version) if p in row_of]
        if not parents:
            lane = pick(row, row, 0, None)
        else:
            first = parents[0]
            lane = pick(row, row_of[first], lane_of[first], lane_of[first])
            edges.append(Edge(version.key, first, lane))
            for row_ in range(row, row_of[first] + 1):
                taken.add((lane, row_))
        lane_of[version.key] = lane
        taken.add((lane, row))
        for other in parents[1:]:
            merge_lane = pick(row, row_of[other], None, lane_of[other])
            edges.append(Edge(version.key, other, merge_lane, merge=True))
            for row_ in range(row, row_of[other] + 1):
                taken.add((merge_lane, row_))
        version.lane, version.row = lane, row
    ordered = sorted(nodes, key=lambda v: v.row)
    lanes = 1 + max((lane for lane, _ in taken), default=0)
    return Graph(ordered, edges, lanes)


# The drawing: one SVG beside rows of a fixed height (the template sets the same height).
ROW_PX = 112
LANE_PX = 18
RADIUS = 6


def _x(lane: int) -> int:
    return LANE_PX // 2 + lane * LANE_PX + 2


def _y(row: int) -> int:
    return row * ROW_PX + ROW_PX // 2


def drawing(graph: Graph) -> dict:
    """Paths and circles for the template: an edge leaves its child's node, runs down its lane,
    and bends into its parent's node over the last half row."""
    by_key = {v.key: v for v in graph.versions}
    paths = []
    for edge in graph.edges:
        child, parent = by_key[edge.child], by_key[edge.parent]
        x1, y1 = _x(child.lane), _y(child.row)
        xl = _x(edge.lane)
        x2, y2 = _x(parent.lane), _y(parent.row)
        bend = ROW_PX // 2
        d = (
            f"M{x1},{y1} C{x1},{y1 + bend // 2} {xl},{y1 + bend // 2} {xl},{y1 + bend} "
            f"L{xl},{y2 - bend} C{xl},{y2 - bend // 2} {x2},{y2 - bend // 2} {x2},{y2}"
        )
        paths.append({"d": d, "merge": edge.merge})
    nodes = [
        {
            "cx": _x(v.lane),
            "cy": _y(v.row),
            "deployed": bool(v.deployed_on),
            "base": v.run is None,
            "label": f"v{v.run.number}" if v.run else "base",
        }
        for v in graph.versions
    ]
    return {
        "paths": paths,
        "nodes": nodes,
        "width": _x(graph.lanes - 1) + LANE_PX // 2 + 4,
        "height": len(graph.versions) * ROW_PX,
        "radius": RADIUS,
        "row_px": ROW_PX,
    }


def history(project: Project) -> tuple[Graph, dict]:
    graph = layout(versions(project))
    return graph, drawing(graph)


@dataclass
class Column:
    """One version in the compare-all table."""

    run: TrainingRun
    score: float | None
    base_score: float | None
    eval_loss: float | None
    train_loss: float | None
    cost: Decimal
    seconds: float
    examples: int

    @property
    def cost_label(self) -> str:
        return money(self.cost)

    @property
    def time_label(self) -> str:
        return format_duration(self.seconds) if self.seconds else ""


def compare_all(project: Project) -> list[Column]:
    """Every version that trained (or merged) side by side: quality, losses, cost and time."""
    rows = [v for v in versions(project) if v.run is not None]
    runs = [v.run for v in rows]
    losses = _final_losses(runs)
    return [
        Column(
            run=v.run,
            score=v.score,
            base_score=v.base_score,
            eval_loss=losses.get(v.run.pk, {}).get("eval_loss"),
            train_loss=losses.get(v.run.pk, {}).get("loss"),
            cost=v.cost,
            seconds=v.run.wall_seconds,
            examples=v.run.dataset_version.train_count if v.run.dataset_version else 0,
        )
        for v in rows
    ]


def _final_losses(runs: list[TrainingRun]) -> dict:
    """Each run's last training loss and last evaluation loss, from its metric points."""

    out: dict = defaultdict(dict)
    for key in ("loss", "eval_loss"):
        for point in (
            MetricPoint.objects.filter(run__in=runs, data__has_key=key)
            .order_by("run_id", "-step")
            .distinct("run_id")
        ):
            out[point.run_id][key] = point.data[key]
    return out
