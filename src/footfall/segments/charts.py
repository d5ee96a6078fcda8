"""A segment's size over time as a self-contained interactive HTML chart (Plotly, imported on demand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from footfall.errors import FootfallError


def history_chart(name: str, evaluations: list[dict[str, Any]], path: Path) -> None:
    """Size as a line, entries and exits as bars, one point per evaluation (`segment_history` rows)."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise FootfallError("--plot needs Plotly: pip install plotly") from None
    at = [row["at"] for row in evaluations]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=at, y=[row["size"] for row in evaluations], name="members", mode="lines+markers"))
    figure.add_trace(go.Bar(x=at, y=[row["entered"] for row in evaluations], name="entered", yaxis="y2"))
    figure.add_trace(go.Bar(x=at, y=[-row["exited"] for row in evaluations], name="exited", yaxis="y2"))
    figure.update_layout(
        title=f"Segment {name}: size over time", barmode="relative", xaxis_title="evaluated as of (UTC)",
        yaxis={"title": "members"}, yaxis2={"title": "entered / exited", "overlaying": "y", "side": "right"},
    )
    try:
        figure.write_html(str(path), include_plotlyjs=True, full_html=True)
    except OSError as error:
        raise FootfallError(f"cannot write {path}: {error.strerror}") from None
