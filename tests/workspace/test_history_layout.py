"""The history graph's layout, a pure function: lanes for versions and the lines between them."""

from types import SimpleNamespace

from apps.workspace.history import Version, drawing, layout


def _v(number, parent=None, merged_with=None):
    run = SimpleNamespace(
        pk=f"run-{number}",
        number=number,
        parent_id=f"run-{parent}" if parent else None,
        merged_with_id=f"run-{merged_with}" if merged_with else None,
    )
    return Version(run, f"v{number}")


def _base():
    return Version(None, "base")


def test_versions_trained_from_the_base_each_get_a_lane():
    graph = layout([_base(), _v(1), _v(2), _v(3)])
    lanes = {v.title: v.lane for v in graph.versions}
    assert [v.title for v in graph.versions] == ["v3", "v2", "v1", "base"]  # newest first
    assert lanes["base"] == 0 and sorted(lanes[t] for t in ("v1", "v2", "v3")) == [0, 1, 2]
    assert graph.lanes == 3 and len(graph.edges) == 3


def test_a_branch_continues_its_parents_lane_and_a_merge_draws_a_second_line():
    # v1 from base; v2 continues v1; v3 from base; v4 merges v2 with v3.
    graph = layout([_base(), _v(1), _v(2, parent=1), _v(3), _v(4, parent=2, merged_with=3)])
    lane = {v.title: v.lane for v in graph.versions}
    assert lane["v1"] == lane["v2"] == lane["v4"] == 0  # one line: v1 → v2 → v4
    assert lane["v3"] == 1
    merges = [e for e in graph.edges if e.merge]
    assert len(merges) == 1 and merges[0].parent == "run-3" and merges[0].child == "run-4"
    # No two lines share a lane over the same rows.
    spans = [
        (e.lane, row)
        for e in graph.edges
        for row in range(
            next(v.row for v in graph.versions if v.key == e.child),
            next(v.row for v in graph.versions if v.key == e.parent),
        )
    ]
    assert len(spans) == len(set(spans))


def test_a_line_passes_rows_that_leave_its_lane_free():
    # v2 from the base sits beside v1; v3 continues v1 on v1's lane, past v2's row.
    graph = layout([_base(), _v(1), _v(2), _v(3, parent=1)])
    lane = {v.title: v.lane for v in graph.versions}
    assert lane["v1"] == lane["v3"] == 0 and lane["v2"] == 1 and graph.lanes == 2
    # Two children of one version: the first continues its lane, the second takes another.
    graph = layout([_base(), _v(1), _v(2, parent=1), _v(3, parent=1)])
    lane = {v.title: v.lane for v in graph.versions}
    assert lane["v2"] == 0 and lane["v3"] == 1


def test_the_drawing_has_a_node_per_version_and_a_path_per_line():
    graph = layout([_base(), _v(1), _v(2, parent=1)])
    art = drawing(graph)
    assert len(art["nodes"]) == 3 and len(art["paths"]) == 2
    assert art["height"] == 3 * art["row_px"] and art["width"] > 0
    assert all(p["d"].startswith("M") for p in art["paths"])
