"""The numbers of a migration report, derived from its JSON (the demo's report, or one of the same
shape): rates between samples, lag percentiles, the cutover's steps, the plan next to the run.
Every figure shown on the page comes from here, so the page and the JSON cannot disagree."""

from __future__ import annotations


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(float(ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]), 1)


def rates(samples: list[dict], counter: str) -> tuple[list[float], list[float]]:
    """(times, per-second rates) of a cumulative counter, between the samples where it changed
    (the processes write their counters every few seconds)."""
    times, values = [], []
    last: dict | None = None
    for s in samples:
        if last is not None and s[counter] != last[counter] and s["t"] > last["t"]:
            times.append(s["t"])
            values.append(round(max(s[counter] - last[counter], 0) / (s["t"] - last["t"]), 1))
        if last is None or s[counter] != last[counter]:
            last = s
    return times, values


def lag_summary(samples: list[dict]) -> dict[str, dict[str, float]]:
    """p50 and p99 of the capture and the replay lag over the sampled run, in ms."""
    return {kind: {"p50": percentile([s[f"{kind}_lag_ms"] for s in samples], 50),
                   "p99": percentile([s[f"{kind}_lag_ms"] for s in samples], 99)}
            for kind in ("capture", "replay")}


def cutover_steps(cutover: dict) -> list[tuple[str, float]]:
    """(step, ms) of the cutover: its step timings when the report has them (a name -> ms map, or a
    list of {step|name, ms}), else the one write pause."""
    for key in ("step_ms", "steps_ms", "step_shares_ms"):
        if isinstance(cutover.get(key), dict):
            return [(str(k), float(v)) for k, v in cutover[key].items() if isinstance(v, (int, float))]
    steps = cutover.get("steps")
    if isinstance(steps, list) and steps and all(isinstance(s, dict) and "ms" in s for s in steps):
        return [(str(s.get("step") or s.get("name")), float(s["ms"])) for s in steps]
    outage = outage_ms(cutover)
    return [("write pause", outage)] if outage is not None else []


def outage_ms(cutover: dict) -> float | None:
    """The application's write outage: `write_outage_ms` when reported, else the write pause."""
    value = cutover.get("write_outage_ms", cutover.get("write_pause_ms"))
    return float(value) if value is not None else None


def key_figures(report: dict) -> list[tuple[str, str, object]]:
    """(label, JSON path, value) of the figures the page states, in order."""
    plan, load, cut, v = (report.get(k) or {} for k in ("plan", "load", "cutover", "verify"))
    lags = {k: f"{v['p50']:g} / {v['p99']:g}"
            for k, v in lag_summary(report.get("timeline", {}).get("samples", [])).items()}
    rows = [
        ("Source rows", "source_rows", report.get("source_rows")),
        ("Target items", "target_items", report.get("target_items")),
        ("Changes made during the migration", "changes_during_migration", report.get("changes_during_migration")),
        ("Items loaded (estimate)", "plan.items_estimate", plan.get("items_estimate")),
        ("Items loaded", "load.items", load.get("items")),
        ("Load seconds (estimate)", "plan.load_estimate_s", plan.get("load_estimate_s")),
        ("Load seconds", "load.seconds", load.get("seconds")),
        ("Load items/s", "load.items_per_s", load.get("items_per_s")),
        ("Replay catch-up s", "replay.catch_up_s", (report.get("replay") or {}).get("catch_up_s")),
        ("Replay lag p99 ms (caught up)", "replay.lag_p99_ms", (report.get("replay") or {}).get("lag_p99_ms")),
        ("Capture lag p50 / p99 ms", "timeline.capture_lag", lags["capture"]),
        ("Replay lag p50 / p99 ms", "timeline.replay_lag", lags["replay"]),
        ("Write outage ms", "cutover.write_outage_ms" if "write_outage_ms" in cut else "cutover.write_pause_ms",
         outage_ms(cut)),
        ("Verify missing", "verify.missing", v.get("missing")),
        ("Verify extra", "verify.extra", v.get("extra")),
        ("Verify different", "verify.different", v.get("different")),
        ("Ready to switch", "cutover.ready", cut.get("ready")),
        ("Run seconds", "seconds", report.get("seconds")),
    ]
    return [r for r in rows if r[2] is not None]
