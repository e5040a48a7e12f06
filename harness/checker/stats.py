"""Summary statistics of a run: outcomes, throughput and latency per second, unavailability."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checker.context import Context, stable_order


def summarize(ctx: Context) -> dict:
    sends = ctx.history.sends
    outcome = sends["outcome"]  # categorical: comparisons work on its codes
    result = {
        "sends": int(len(sends)), "acked": int((outcome == "ok").sum()), "failed": int((outcome == "fail").sum()),
        "indeterminate": int(((outcome == "info") | (outcome == "pending")).sum()),
        "reads": {role: int(len(ctx.reads_by(ctx.readers_with(role)))) for role in ("consumer", "transformer", "sink", "streams", "final")},
        "transactions": {str(k): int(v) for k, v in ctx.history.transactions["outcome"].value_counts().items()}
        if not ctx.history.transactions.empty else {},
        "acked_without_offset": int((ctx.acked & (sends["offset"].to_numpy() < 0)).sum()),
        "fire_and_forget": ctx.fire_and_forget,  # producers that ran with acks=0
        "failures": _counts(sends.loc[(outcome == "fail").to_numpy(), "error"]),  # e.g. TOPIC_AUTHORIZATION_FAILED
        "client_errors": _counts(_errors(ctx.history.events)),  # what workers' clients reported, e.g. refusals
    }
    if sends.empty:
        return result
    seconds = lambda mono: ((mono - ctx.start_mono) // 10**9).astype(np.int64)  # noqa: E731
    per_second = sends_per_second(sends, ctx.start_mono)
    width = len(per_second["ok"])
    acked = sends[(outcome == "ok").to_numpy()]
    quantiles = _per_second_quantiles(seconds(acked["complete_mono"].to_numpy()), acked["latency_ms"].to_numpy(),
                                      width, [0.5, 0.95, 0.99])
    result["per_second"] = {
        "sends": per_second,
        "latency_ms": {name: [_round(v) for v in quantiles[:, i]] for i, name in enumerate(("p50", "p95", "p99"))}
        if len(acked) else {},
    }
    overall = np.quantile(acked["latency_ms"].to_numpy(), [0.5, 0.95, 0.99, 1.0]) if len(acked) else []
    result["latency_ms"] = dict(zip(("p50", "p95", "p99", "max"), map(_round, overall)))
    result["longest_unavailability"] = _unavailability(ctx, sends, acked)
    return result


def _per_second_quantiles(second: np.ndarray, values: np.ndarray, width: int, qs: list[float]) -> np.ndarray:
    """Quantiles of `values` per second in [0, width) (NaN for a second without any): grouped by
    a stable sort on the second (a radix sort), then each second's slice on its own."""
    out = np.full((width, len(qs)), np.nan)
    order, second = stable_order(second, width)
    values = values[order]
    bounds = np.searchsorted(second, np.arange(width + 1))
    for s in np.flatnonzero(np.diff(bounds)):
        out[s] = np.quantile(values[bounds[s]:bounds[s + 1]], qs)
    return out


def sends_per_second(sends: pd.DataFrame, start_mono: int) -> dict[str, list[int]]:
    """Completed sends per second since `start_mono`, by outcome (ok, fail, info)."""
    done = (sends["complete_mono"] >= 0).to_numpy()
    bucket = ((sends["complete_mono"].to_numpy()[done] - start_mono) // 10**9).astype(np.int64)
    width = int(bucket.max()) + 1 if len(bucket) else 0
    return {name: np.bincount(bucket[(sends["outcome"] == name).to_numpy()[done]], minlength=width).tolist()
            for name in ("ok", "fail", "info")}  # outcome is categorical: == compares codes


def _unavailability(ctx: Context, sends: pd.DataFrame, acked: pd.DataFrame) -> dict | None:
    """The longest stretch, while producers were sending, with no send acknowledged."""
    if acked.empty:
        return None
    times = np.concatenate([[sends["invoke_mono"].min()], acked["complete_mono"].to_numpy(),
                            [sends["invoke_mono"].max()]])
    start, end = _widest_gap(times)
    return {"seconds": round(float(end - start) / 1e9, 3), "from_s": ctx.seconds(start), "to_s": ctx.seconds(end)}


def _widest_gap(times: np.ndarray) -> tuple[int, int]:
    """The two consecutive times (in sorted order) furthest apart, without sorting: with n times
    in n - 1 equal buckets between the extremes, the widest gap is never inside a bucket, so it
    is between one bucket's latest and the next non-empty one's earliest."""
    low, high = int(times.min()), int(times.max())
    if len(times) < 3 or high == low:
        return low, high
    width = -(-(high - low) // (len(times) - 1))  # ceiling division: n - 1 buckets cover [low, high]
    bucket = (times - low) // width
    first, last = np.full(len(times), high + 1, np.int64), np.full(len(times), low - 1, np.int64)
    np.minimum.at(first, bucket, times)
    np.maximum.at(last, bucket, times)
    used = np.flatnonzero(last >= low)
    gaps = first[used[1:]] - last[used[:-1]]
    at = int(np.argmax(gaps))
    return int(last[used[at]]), int(first[used[at + 1]])


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.dropna().astype(str).value_counts().items()}


def _errors(events: pd.DataFrame) -> pd.Series:
    if events.empty or "detail" not in events:
        return pd.Series([], dtype=object)
    return events.loc[(events["kind"].astype(str) == "error").to_numpy(), "detail"]


def _round(value) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 3)
