"""Summary statistics of a run: outcomes, throughput and latency per second, unavailability."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checker.context import Context


def summarize(ctx: Context) -> dict:
    sends = ctx.history.sends
    outcome = sends["outcome"]  # categorical: comparisons work on its codes
    result = {
        "sends": int(len(sends)), "acked": int((outcome == "ok").sum()), "failed": int((outcome == "fail").sum()),
        "indeterminate": int(((outcome == "info") | (outcome == "pending")).sum()),
        "reads": {role: int(len(ctx.reads_by(ctx.readers_with(role)))) for role in ("consumer", "transformer", "final")},
        "transactions": {str(k): int(v) for k, v in ctx.history.transactions["outcome"].value_counts().items()}
        if not ctx.history.transactions.empty else {},
        "failures": _counts(sends.loc[(outcome == "fail").to_numpy(), "error"]),  # e.g. TOPIC_AUTHORIZATION_FAILED
        "client_errors": _counts(_errors(ctx.history.events)),  # what workers' clients reported, e.g. refusals
    }
    if sends.empty:
        return result
    seconds = lambda mono: ((mono - ctx.start_mono) // 10**9).astype(np.int64)  # noqa: E731
    per_second = sends_per_second(sends, ctx.start_mono)
    width = len(per_second["ok"])
    acked = sends[(outcome == "ok").to_numpy()]
    latency = pd.DataFrame({"second": seconds(acked["complete_mono"].to_numpy()), "ms": acked["latency_ms"]})
    quantiles = latency.groupby("second")["ms"].quantile([0.5, 0.95, 0.99]).unstack()
    result["per_second"] = {
        "sends": per_second,
        "latency_ms": {name: [_round(quantiles[q].get(s)) for s in range(width)]
                       for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))} if len(quantiles) else {},
    }
    result["latency_ms"] = {name: _round(acked["latency_ms"].quantile(q)) for name, q in
                            (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))} if len(acked) else {}
    result["longest_unavailability"] = _unavailability(ctx, sends, acked)
    return result


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
    times = np.sort(np.concatenate([[sends["invoke_mono"].min()], acked["complete_mono"].to_numpy(),
                                    [sends["invoke_mono"].max()]]))
    gaps = np.diff(times)
    at = int(np.argmax(gaps))
    return {"seconds": round(float(gaps[at]) / 1e9, 3), "from_s": ctx.seconds(times[at]),
            "to_s": ctx.seconds(times[at + 1])}


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.dropna().astype(str).value_counts().items()}


def _errors(events: pd.DataFrame) -> pd.Series:
    if events.empty or "detail" not in events:
        return pd.Series([], dtype=object)
    return events.loc[(events["kind"].astype(str) == "error").to_numpy(), "detail"]


def _round(value) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 3)
