"""The speed table's pictures: production's and the new label's latency distributions as two box plots
on one scale (p5-p95 whiskers, p25-p75 box, the median, the slowest answer as a dot), laid out here as
numbers and drawn as inline SVG by the report's template: no script, no network, works from file://."""

from __future__ import annotations

WIDTH, HEIGHT, MARGIN = 240, 44, 4  # px: a small picture per table row
LANE = 14  # px per side
SIDES = (("from", "production"), ("to", "new"))


def _at(quantiles: list[float], percent: int) -> float:
    """The `percent`-th percentile of a distribution kept as every 5th percentile (loadtest.quantiles)."""
    step = 100 / (len(quantiles) - 1)
    return quantiles[min(len(quantiles) - 1, round(percent / step))]


def geometry(quantiles: dict[str, list[float]], slower: bool) -> dict | None:
    """Where each side's marks go (px), both sides on the scale of the slower p95; None without figures."""
    if not all(len(quantiles.get(side) or []) >= 3 for side, _ in SIDES):
        return None
    top = max(_at(quantiles[side], 95) for side, _ in SIDES) * 1.25 or 1.0
    scale = (WIDTH - 2 * MARGIN) / top

    def x(ms: float) -> float:
        return round(MARGIN + min(ms, top) * scale, 1)

    lanes = []
    for n, (side, name) in enumerate(SIDES):
        q = quantiles[side]
        lanes.append({
            "name": name, "y": MARGIN + n * (LANE + 4), "h": LANE, "mid": MARGIN + n * (LANE + 4) + LANE / 2,
            "p5": x(_at(q, 5)), "p25": x(_at(q, 25)), "p50": x(_at(q, 50)), "p75": x(_at(q, 75)),
            "p95": x(_at(q, 95)), "max": x(q[-1]), "clipped": q[-1] > top,
            "title": f"{name}: p50 {_at(q, 50):.1f} ms, p95 {_at(q, 95):.1f} ms, slowest {q[-1]:.1f} ms",
            "css": "slow" if side == "to" and slower else side,
        })  # fmt: skip
    return {"width": WIDTH, "height": HEIGHT, "lanes": lanes, "axis": f"0 - {top:.0f} ms", "axis_x": WIDTH - MARGIN}
