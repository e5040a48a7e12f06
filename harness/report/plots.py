"""The report's plots, drawn with matplotlib as SVG and embedded as data URIs (an <img> never
runs what it embeds, and the page needs nothing from the network). Every time axis counts
seconds from the run's start; fault windows are shaded and labelled on each."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False})
WIDTH, HEIGHT = 10, 2.8
MAX_POINTS = 4000  # raw latency points drawn (a seeded sample beyond that)
OUTCOME_COLOURS = {"ok": "#2a9d8f", "fail": "#e76f51", "info": "#e9c46a", "pending": "#8d99ae"}


# Fault windows are red; faults from inside a node or on the protocol have colours of their own,
# so a power cut, a clock jump or a doctored response is told from a network fault at a glance.
FAULT_COLOURS = {"power-loss": "#370617", "clock-skew": "#7b2cbf", "delay-response": "#f77f00",
                 "drop-response": "#f77f00", "error-response": "#f77f00"}
DEFAULT_FAULT_COLOUR = "#e63946"


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    label: str
    fault: str = ""  # the fault's name, which picks its colour

    @property
    def colour(self) -> str:
        return FAULT_COLOURS.get(self.fault, DEFAULT_FAULT_COLOUR)


def svg_uri(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _axes(title: str, ylabel: str, height: float = HEIGHT):
    fig, ax = plt.subplots(figsize=(WIDTH, height))
    ax.set_title(title, loc="left", fontsize=10)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("seconds since the run started")
    ax.ticklabel_format(axis="x", useOffset=False)
    return fig, ax


def shade(ax, windows: list[Window]) -> None:
    """Fault windows as shaded spans, labelled along the top."""
    for i, w in enumerate(windows):
        ax.axvspan(w.start, w.end, color=w.colour, alpha=0.12, lw=0)
        ax.annotate(w.label, xy=(w.start, 1), xycoords=("data", "axes fraction"), xytext=(2, -10 - 9 * (i % 3)),
                    textcoords="offset points", fontsize=7, color="#9d0208", clip_on=True)


def send_throughput(per_second: dict[str, list[int]], windows: list[Window]) -> str:
    fig, ax = _axes("Sends per second by outcome", "sends/s")
    for outcome in ("ok", "fail", "info"):
        series = per_second.get(outcome) or []
        if any(series):
            ax.plot(np.arange(len(series)), series, label=outcome if outcome != "info" else "indeterminate",
                    color=OUTCOME_COLOURS[outcome], lw=1.2, drawstyle="steps-post")
    _finish(ax, windows)
    return svg_uri(fig)


def send_latency(sends: pd.DataFrame, t0: int, windows: list[Window]) -> str:
    """Every completed send's latency (a sample when there are many), and p50/p95/p99 per second."""
    fig, ax = _axes("Send latency", "ms (log scale)")
    done = sends[sends["latency_ms"].notna() & (sends["complete_mono"] > 0)]
    if len(done):
        at = (done["complete_mono"].to_numpy() - t0) / 1e9
        latency = done["latency_ms"].to_numpy()
        shown = np.random.default_rng(0).choice(len(done), MAX_POINTS, replace=False) if len(done) > MAX_POINTS \
            else slice(None)
        ax.scatter(at[shown], latency[shown], s=2, color="#6c757d", alpha=0.35, lw=0, rasterized=True,
                   label="sends" if len(done) <= MAX_POINTS else f"{MAX_POINTS} of {len(done)} sends")
        second = pd.Series(latency).groupby(np.floor(at).astype(int))
        for q, colour in ((0.5, "#2a9d8f"), (0.95, "#f4a261"), (0.99, "#e76f51")):
            line = second.quantile(q)
            ax.plot(line.index + 0.5, line.to_numpy(), color=colour, lw=1.2, label=f"p{int(q * 100)}")
        ax.set_yscale("log")
    _finish(ax, windows)
    return svg_uri(fig)


def consumption(reads_per_second: dict[str, np.ndarray], lag: pd.DataFrame, windows: list[Window]) -> str:
    """Records processed per second by each consumer or transformer, and each group's total lag."""
    fig, ax = _axes("Consumption and consumer lag", "records/s")
    for reader, series in sorted(reads_per_second.items()):
        ax.plot(np.arange(len(series)), series, lw=1, drawstyle="steps-post", label=f"{reader} processed/s")
    if len(lag):
        right = ax.twinx()
        right.set_ylabel("lag (records)")
        for group, rows in lag.groupby("group"):
            right.plot(rows["at"], rows["lag"], lw=1.2, ls="--", label=f"lag of {group}")
        right.legend(loc="upper right", fontsize=7)
        right.grid(False)
    _finish(ax, windows, legend_loc="upper left")
    return svg_uri(fig)


def leadership(partitions: pd.DataFrame, windows: list[Window], limit: int = 24) -> str:
    """One row per partition: who leads it over time (colour, number) and whether its ISR is
    short of its replicas (pale), from the observer's samples."""
    names = list(dict.fromkeys(partitions["name"]))[:limit]
    fig, ax = _axes("Partition leaders (colour and number) and ISR (pale: fewer in sync than replicas)", "",
                    height=max(1.6, 0.32 * len(names) + 1))
    colours = plt.get_cmap("tab10")
    for row, name in enumerate(names):
        spans = partitions[partitions["name"] == name].sort_values("at")
        starts, ends = spans["at"].to_numpy(), np.append(spans["at"].to_numpy()[1:], spans["at"].max() + 0.5)
        for start, end, leader, short in zip(starts, ends, spans["leader"], spans["short"]):
            colour = "#d3d3d3" if pd.isna(leader) else colours(int(leader) % 10)
            ax.broken_barh([(start, end - start)], (row - 0.4, 0.8), color=colour, alpha=0.35 if short else 0.9,
                           lw=0)
        for start, label in _runs(starts, spans["leader"].to_numpy()):
            ax.text(start + 0.1, row, label, va="center", fontsize=6)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    shade(ax, windows)
    return svg_uri(fig)


def offsets_around(acked: pd.DataFrame, lost: pd.DataFrame, title: str, proven_end: int | None,
                   windows: list[Window]) -> str:
    """Acknowledged offsets of one partition over time around lost writes: the lost ones in red."""
    fig, ax = _axes(title, "offset", height=2.4)
    ax.scatter(acked["at"], acked["offset"], s=3, color="#2a9d8f", lw=0, label="acked and read", rasterized=True)
    ax.scatter(lost["at"], lost["offset"], s=9, color="#d62828", marker="x", lw=1, label="acked, then lost")
    if proven_end is not None:
        ax.axhline(proven_end, color="#6c757d", ls=":", lw=1, label=f"final read proved up to {proven_end}")
    _finish(ax, windows)
    return svg_uri(fig)


def _runs(starts: np.ndarray, leaders: np.ndarray):
    """(start, leader label) wherever the leader differs from the one before."""
    previous = None
    for start, leader in zip(starts, leaders):
        label = "none" if pd.isna(leader) else str(int(leader))
        if label != previous:
            yield start, label
        previous = label


def _finish(ax, windows: list[Window], legend_loc: str = "upper right") -> None:
    ax.set_xlim(left=0)
    if ax.get_yscale() == "linear":
        ax.set_ylim(bottom=0)
    shade(ax, windows)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc=legend_loc, fontsize=7)
