"""One self-contained HTML page of a migration: plotly.js is inlined once, so the page opens with no
network. Each figure stated on the page carries the JSON path it comes from (`data-path`), so a test
(and a reader) can check it against the report.

Sections: key figures, the phases on a timeline, throughput and lags over time (p50/p99), the plan's
estimates next to what happened, verify with example differences, the cutover's steps with the
write outage, and the key design (`keymap analyze`) when the report has it."""

from __future__ import annotations

import html
import json
from pathlib import Path

from mysql2dynamo.report.figures import cutover_steps, key_figures, lag_summary, outage_ms, rates

STYLE = """body{font:14px system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#1a7f37}.bad{color:#cf222e}
pre{background:#f6f8fa;padding:.6em;overflow:auto;font-size:12px}"""


def _layout(fig, title: str, x: str = "", y: str = "") -> None:
    fig.update_layout(title=title, height=340, margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      xaxis_title=x, yaxis_title=y, template="plotly_white",
                      legend={"orientation": "h", "y": -0.25})


def _phases(phases: list[dict]):
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(y=[p["phase"] for p in phases], x=[p["end_s"] - p["start_s"] for p in phases],
                           base=[p["start_s"] for p in phases], orientation="h",
                           hovertemplate="%{y}: %{base:.1f}s + %{x:.1f}s<extra></extra>"))
    _layout(fig, "Phases", "seconds since start")
    fig.update_yaxes(autorange="reversed")
    return fig


def _phase(phases: list[dict], word: str) -> dict | None:
    return next((p for p in phases if word in p["phase"]), None)


def _throughput(report: dict):
    import plotly.graph_objects as go

    samples, phases = report["timeline"]["samples"], report["timeline"]["phases"]
    fig = go.Figure()
    for counter, name in (("capture_records", "capture records/s"), ("replay_records", "replay records/s")):
        t, v = rates(samples, counter)
        fig.add_trace(go.Scatter(x=t, y=v, mode="lines+markers", name=name))
    load, rate = _phase(phases, "load"), (report.get("load") or {}).get("items_per_s")
    if load and rate:
        fig.add_trace(go.Scatter(x=[load["start_s"], load["end_s"]], y=[rate, rate], mode="lines", name="load items/s",
                                 line={"width": 4}))
    _layout(fig, "Throughput", "seconds since start", "per second")
    return fig


def _lags(samples: list[dict]):
    import plotly.graph_objects as go

    fig = go.Figure()
    t = [s["t"] for s in samples]
    summary = lag_summary(samples)
    for kind in ("capture", "replay"):
        fig.add_trace(go.Scatter(x=t, y=[s[f"{kind}_lag_ms"] for s in samples], mode="lines", name=f"{kind} lag"))
        for p, dash in (("p50", "dot"), ("p99", "dash")):
            value = summary[kind][p]
            fig.add_trace(go.Scatter(x=[t[0], t[-1]] if t else [], y=[value, value], mode="lines",
                                     name=f"{kind} {p} {value:g} ms", line={"dash": dash, "width": 1}))
    _layout(fig, "Capture and replay lag", "seconds since start", "ms")
    return fig


def _plan_vs_run(report: dict):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    plan, load = report.get("plan") or {}, report.get("load") or {}
    fig = make_subplots(rows=1, cols=2, subplot_titles=("items", "load seconds"))
    for col, (estimate, actual) in enumerate(((plan.get("items_estimate"), load.get("items")),
                                              (plan.get("load_estimate_s"), load.get("seconds"))), start=1):
        fig.add_trace(go.Bar(x=["plan", "run"], y=[estimate or 0, actual or 0], showlegend=False,
                             marker_color=["#8c959f", "#0969da"]), row=1, col=col)
    _layout(fig, "The plan's estimates and what happened")
    return fig


def _verify(v: dict, target_items: int | None):
    import plotly.graph_objects as go

    kinds = ["missing", "extra", "different", "in_flight"]
    counts = [target_items or 0, *(v.get(k) or 0 for k in kinds)]
    fig = go.Figure(go.Bar(x=["target items", *kinds], y=counts, text=counts,
                           marker_color=["#0969da"] + ["#cf222e"] * len(kinds)))
    _layout(fig, "Verify: the target's items, and those that differ (none is clean)", "", "items")
    return fig


def _cutover(cut: dict):
    import plotly.graph_objects as go

    fig = go.Figure()
    for step, ms in cutover_steps(cut):
        fig.add_trace(go.Bar(y=["cutover"], x=[ms], name=f"{step} {ms:g} ms", orientation="h"))
    fig.update_layout(barmode="stack")
    _layout(fig, f"Cutover: write outage {outage_ms(cut) or 0:g} ms", "ms")
    fig.update_layout(height=220)
    return fig


def _key_design(analysis: dict) -> list:
    import plotly.graph_objects as go

    figs = []
    for target in analysis.get("targets", []):
        hot = target["hot_keys"]
        fig = go.Figure(go.Bar(x=[h["share"] * 100 for h in hot], y=[str(h["key"]) for h in hot], orientation="h",
                               name="share of items"))
        if any(h.get("write_share") is not None for h in hot):
            fig.add_trace(go.Bar(x=[(h.get("write_share") or 0) * 100 for h in hot], y=[str(h["key"]) for h in hot],
                                 orientation="h", name="share of writes"))
        _layout(fig, f"{target['target']}: hottest partition keys ({target['partition_keys']:,} keys)", "% of items")
        fig.update_yaxes(autorange="reversed")
        figs.append(fig)
        sizes = target["item_sizes"]
        fig = go.Figure(go.Bar(x=[b["upto_bytes"] for b in sizes], y=[b["items"] for b in sizes],
                               name="items", hovertemplate="<= %{x} bytes: %{y} items<extra></extra>"))
        for limit, label in ((1024, "1 KB: 1 WCU"), (2048, "2 KB: 2 WCU"), (400 * 1024, "400 KB: the item limit")):
            fig.add_vline(x=limit, line_dash="dash", annotation_text=label)
        fig.update_xaxes(type="log")
        _layout(fig, f"{target['target']}: item sizes", "bytes (log)", "items")
        figs.append(fig)
        for gsi in target.get("gsis", []):
            fig = go.Figure(go.Bar(x=[h["share"] * 100 for h in gsi["hot_keys"]],
                                   y=[str(h["key"]) for h in gsi["hot_keys"]], orientation="h"))
            _layout(fig, f"{target['target']}.{gsi['index']}: {gsi['items']:,} index items "
                         f"({gsi['fan_out']:.2f} per table item), hottest keys", "% of index items")
            fig.update_yaxes(autorange="reversed")
            figs.append(fig)
    return figs


def _value(v: object) -> str:
    return json.dumps(v) if isinstance(v, bool) else str(v)


def _table(rows: list[tuple[str, str, object]]) -> str:
    body = "".join(f"<tr><th>{html.escape(label)}</th><td class=n data-path=\"{path}\">{html.escape(_value(v))}</td>"
                   f"</tr>" for label, path, v in rows)
    return f"<table id=figures>{body}</table>"


def _examples(examples: dict) -> str:
    shown = [(kind, ex) for kind in ("missing", "extra", "different") for ex in examples.get(kind, [])]
    if not shown:
        return "<p>No example differences.</p>"
    return "".join(f"<pre>{kind}: {html.escape(json.dumps(ex, ensure_ascii=False, default=str))}</pre>"
                   for kind, ex in shown)


def _warnings(analysis: dict) -> str:
    items = [w for t in analysis.get("targets", []) for w in t.get("warnings", [])]
    return "".join(f"<p class=bad>{html.escape(w)}</p>" for w in items) or "<p class=ok>No partition over a limit.</p>"


def render(report: dict, analysis: dict | None = None, title: str = "mysql2dynamo migration report") -> str:
    """The page's HTML."""
    from plotly.offline import get_plotlyjs

    timeline = report.get("timeline") or {"phases": [], "samples": []}
    report = {**report, "timeline": timeline}
    sections: list[tuple[str, list, str]] = []  # heading, figures, HTML after them
    cut, v = report.get("cutover") or {}, report.get("verify") or {}
    if timeline["phases"]:
        sections.append(("Phases", [_phases(timeline["phases"])], ""))
    if timeline["samples"]:
        sections.append(("Throughput and lag", [_throughput(report), _lags(timeline["samples"])], ""))
    if report.get("plan"):
        sections.append(("Plan and run", [_plan_vs_run(report)], ""))
    if v:
        state = "<p class=ok>VERIFY CLEAN</p>" if v.get("clean") else "<p class=bad>DIFFERENCES FOUND</p>"
        examples = _examples(report.get("verify_examples") or {})
        sections.append(("Verify", [_verify(v, report.get("target_items"))], state + examples))
    if cut:
        sections.append(("Cutover", [_cutover(cut)], ""))
    analysis = analysis or report.get("key_design")
    if analysis:
        sections.append(("Key design", _key_design(analysis), _warnings(analysis)))
    parts = [f"<h1>{html.escape(title)}</h1>", _table(key_figures(report))]
    for heading, figs, after in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts += [f.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}) for f in figs]
        parts.append(after)
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>{''.join(parts)}</body></html>")


def write_page(report: dict, path: Path, analysis: dict | None = None) -> Path:
    path.write_text(render(report, analysis), encoding="utf-8")
    return path
