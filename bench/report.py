"""The benchmark's report: ``latest.json`` (everything) and ``latest.md`` (the table)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.stats import ScenarioSummary

BASELINE = "baseline"
#: The same view on Django's default middleware (``joopang.settings.bench_bare``).
BARE = "baseline_bare"
#: The baseline once more at the end of the run (the host's drift).
AGAIN = "baseline_again"
#: The floor's A-B-B-A: baseline, baseline_bare, then these two.
BARE_2 = "baseline_bare_2"
BASELINE_2 = "baseline_2"


def _ratio(value: float, reference: float) -> float | None:
    if not reference or math.isnan(reference) or math.isnan(value):
        return None
    return value / reference


def build_report(
    *,
    meta: dict[str, Any],
    summaries: Sequence[ScenarioSummary],
    skipped: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    """Summaries plus ratios to the baseline measured in the same run (req/s, P95, CPU per
    request), each row's targets judged (``targets``: name -> met), and the middleware floor."""
    base = next((s for s in summaries if s.name == BASELINE), None)
    floor = middleware_floor(summaries)
    base_cpu = _app_cpu(base) if base else None
    rows = []
    for summary in summaries:
        row = summary.as_dict()
        row["p95_vs_baseline"] = _ratio(summary.p95_ms, base.p95_ms) if base else None
        row["rps_vs_baseline"] = _ratio(summary.rps, base.rps) if base else None
        cpu = _app_cpu(summary)
        row["cpu_vs_baseline"] = cpu / base_cpu if cpu is not None and base_cpu else None
        row["targets"] = _targets(summary, row["rps_vs_baseline"])
        if summary.name == BASELINE and floor is not None:
            row["targets"]["gunicorn CPU/request ≤ baseline_bare's"] = floor["passed"]
        row["passed"] = summary.passed and all(row["targets"].values())
        rows.append(row)
    return {
        "meta": meta,
        "baseline": BASELINE if base else None,
        "middleware_floor": floor,
        "host_drift": host_drift(summaries),
        "scenarios": rows,
        "skipped": list(skipped),
        "passed": bool(rows)
        and all(row["passed"] for row in rows)
        and all(all(check["targets"].values()) for check in meta.get("flash_sales", []))
        and (floor is None or floor["passed"]),
        "errors": sum(s.errors for s in summaries),
    }


def _targets(summary: ScenarioSummary, rps_vs_baseline: float | None) -> dict[str, bool]:
    """A row's targets, met or not: its P95 bound, its req/s as a share of the baseline's
    (not met when the run has no baseline to compare with), and those the harness judged
    after the load (``extra["targets"]``: a flash sale's, the coupon issuance's)."""
    targets: dict[str, bool] = {}
    if summary.p95_target_ms is not None:
        targets[f"P95 ≤ {summary.p95_target_ms:g} ms"] = summary.p95_ms <= summary.p95_target_ms
    share = summary.rps_target_vs_baseline
    if share is not None:
        targets[f"req/s ≥ {share:.0%} of baseline"] = rps_vs_baseline is not None and rps_vs_baseline >= share
    targets.update({str(k): bool(v) for k, v in summary.extra.get("targets", {}).items()})
    return targets


def _app_cpu(summary: ScenarioSummary) -> float | None:
    """CPU per request of the server side: gunicorn + our PostgreSQL backends (ms)."""
    cpu = summary.extra.get("cpu_ms_per_request", {})
    if cpu.get("gunicorn") is None:
        return None
    return float(cpu["gunicorn"]) + float(cpu.get("postgres") or 0.0)


def _gunicorn_cpu(summary: ScenarioSummary) -> float | None:
    value = summary.extra.get("cpu_ms_per_request", {}).get("gunicorn")
    return float(value) if value else None


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None and not math.isnan(v)]
    return sum(known) / len(known) if known else None


def middleware_floor(summaries: Sequence[ScenarioSummary]) -> dict[str, Any] | None:
    """The baseline (Joopang's middleware) against ``baseline_bare`` (Django's default
    middleware) of the same run: gunicorn CPU per request and req/s, and their ratios
    (issue 25: the full stack may cost no more CPU per request than the stock one).

    Measured A-B-B-A when the run has ``baseline_bare_2`` and ``baseline_2``: each side is the
    mean of its two runs, so a host whose speed drifts steadily over the four minutes counts
    the same on both sides; ``rounds`` lists the four gunicorn CPU figures in order."""
    by_name = {s.name: s for s in summaries}
    if BASELINE not in by_name or BARE not in by_name:
        return None
    full = [by_name[name] for name in (BASELINE, BASELINE_2) if name in by_name]
    bare = [by_name[name] for name in (BARE, BARE_2) if name in by_name]
    base_cpu, bare_cpu = _mean([_gunicorn_cpu(s) for s in full]), _mean([_gunicorn_cpu(s) for s in bare])
    base_rps, bare_rps = _mean([s.rps for s in full]), _mean([s.rps for s in bare])
    cpu_ratio = base_cpu / bare_cpu if base_cpu and bare_cpu else None
    order = [name for name in (BASELINE, BARE, BARE_2, BASELINE_2) if name in by_name]
    return {
        "baseline_cpu_ms": base_cpu,
        "bare_cpu_ms": bare_cpu,
        "cpu_ratio": cpu_ratio,
        "baseline_rps": base_rps,
        "bare_rps": bare_rps,
        "rps_ratio": _ratio(base_rps, bare_rps) if base_rps is not None and bare_rps is not None else None,
        "rounds": [(name, _gunicorn_cpu(by_name[name])) for name in order],
        "passed": cpu_ratio is not None and cpu_ratio <= 1.0,
    }


def host_drift(summaries: Sequence[ScenarioSummary]) -> dict[str, Any] | None:
    """The baseline at the end of the run against the first (``baseline_again``): req/s and
    server CPU per request of the same requests, as ratios (1.00×: the host kept its speed)."""
    base = next((s for s in summaries if s.name == BASELINE), None)
    again = next((s for s in summaries if s.name == AGAIN), None)
    if base is None or again is None:
        return None
    base_cpu, again_cpu = _app_cpu(base), _app_cpu(again)
    return {
        "rps_ratio": _ratio(again.rps, base.rps),
        "cpu_ratio": again_cpu / base_cpu if again_cpu is not None and base_cpu else None,
    }


def _drift_lines(drift: dict[str, Any] | None) -> list[str]:
    if not drift:
        return []
    return [
        f"- **host drift**: the baseline again at the end of the run (`baseline_again`) served "
        f"{_times(drift['rps_ratio'])} the first baseline's req/s at {_times(drift['cpu_ratio'])} its CPU per "
        "request: the further from 1.00×, the more the host's speed moved during the run, and the less "
        "a ratio between rows far apart in the table means",
        "",
    ]


def _floor_lines(floor: dict[str, Any] | None) -> list[str]:
    if not floor:
        return []
    cpu = (
        f"{floor['baseline_cpu_ms']:.2f} ms of gunicorn CPU per request vs bare {floor['bare_cpu_ms']:.2f} ms "
        f"({floor['cpu_ratio']:.2f}×)"
        if floor["cpu_ratio"] is not None
        else "gunicorn CPU per request not measured"
    )
    rps = _times(floor["rps_ratio"])
    verdict = "pass" if floor["passed"] else "FAIL"
    return [
        f"- **middleware floor**: baseline costs {cpu}; req/s {floor['baseline_rps']:.0f} vs bare "
        f"{floor['bare_rps']:.0f} ({rps}). Target (issue 25): no more CPU per request than Django's "
        f"default middleware, i.e. ≤ 1.00×: **{verdict}**",
        *_floor_rounds(floor),
        "",
    ]


def _floor_rounds(floor: dict[str, Any]) -> list[str]:
    rounds = floor.get("rounds") or []
    if len(rounds) <= 2:
        return []
    shown = ", ".join(f"{name} {'–' if cpu is None else f'{cpu:.2f}'}" for name, cpu in rounds)
    return [
        f"  (measured A-B-B-A, gunicorn CPU ms per request in order: {shown}; each side is the mean of "
        "its two runs, so a steady drift of the host counts alike on both)"
    ]


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _verdict(row: dict[str, Any]) -> str:
    targets = row.get("targets", {})
    if row["passed"]:
        return "pass" if targets else "pass (0 errors)"
    reasons = []
    if not row["requests"]:
        reasons.append("no requests")
    if row["errors"]:
        reasons.append(f"{row['errors']} errors")
    for name, met in targets.items():
        if not met:
            reasons.append(_missed(name, row))
    return "FAIL: " + ", ".join(reasons)


def _missed(target: str, row: dict[str, Any]) -> str:
    """What a missed target measured ("P95 > 200 ms", "req/s 0.33× < 50 %")."""
    if target.startswith("P95 ≤ "):
        return target.replace("P95 ≤", "P95 >")
    if target.startswith("req/s ≥ "):
        share = target.removeprefix("req/s ≥ ").split(" ", 1)[0]
        return f"req/s {_times(row['rps_vs_baseline'])} < {share}"
    return f"not met: {target}"


def render_markdown(report: dict[str, Any]) -> str:
    """A GitHub-flavoured markdown page: run facts, the table, skipped scenarios."""
    meta = report["meta"]
    lines = [
        "# Joopang benchmark",
        "",
        f"- when: {meta.get('finished_at', '?')}, commit `{meta.get('git_commit', '?')}`",
        f"- machine: {meta.get('cpu_count', '?')} cores ({meta.get('cpu_model', '?')}), "
        f"load average at start {meta.get('loadavg_start', '?')}",
        f"- dataset: {meta.get('dataset', {}).get('products', '?')} products, "
        f"{meta.get('dataset', {}).get('skus', '?')} SKUs, "
        f"{meta.get('dataset', {}).get('categories', '?')} categories",
        f"- load: {meta.get('concurrency', '?')} concurrent connections, "
        f"{meta.get('duration_s', '?')} s per scenario after {meta.get('warmup_s', '?')} s warm-up, "
        "closed loop (each connection sends its next request when the last one is answered)",
        f"- server: {meta.get('server', '?')}",
        *_floor_line(meta.get("client_floor")),
        f"- database: {meta.get('database', '?')}",
        "",
        "| scenario | req/s | P50 ms | P95 ms | P99 ms | errors | requests | req/s vs baseline "
        "| P95 vs baseline | CPU/req vs baseline | others, % of machine | load avg | targets | result |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in report["scenarios"]:
        extra = row.get("extra", {})
        lines.append(
            "| {name} | {rps:.0f} | {p50} | {p95} | {p99} | {errors} ({rate:.2%}) | {requests} "
            "| {rpsx} | {p95x} | {cpux} | {other} | {load} | {targets} | {verdict} |".format(
                name=row["name"],
                rps=row["rps"],
                p50=_ms(row["p50_ms"]),
                p95=_ms(row["p95_ms"]),
                p99=_ms(row["p99_ms"]),
                errors=row["errors"],
                rate=row["error_rate"],
                requests=row["requests"],
                rpsx=_times(row["rps_vs_baseline"]),
                p95x=_times(row["p95_vs_baseline"]),
                cpux=_times(row.get("cpu_vs_baseline"))
                + ("†" if "cpu_label" in extra and row.get("cpu_vs_baseline") else ""),
                other=_share(extra.get("other_machine_share")),
                load=_load(extra.get("loadavg_1m")),
                targets="; ".join(row.get("targets", {})) or "–",
                verdict=_verdict(row),
            )
        )
    lines += [
        "",
        "Ratios are to the baseline of this run: req/s and P95 (scenario ÷ baseline), and CPU per "
        "request (gunicorn + PostgreSQL; † a flow's CPU per request over all its requests, refills "
        'included). "others" is the share of the machine\'s CPU used by processes other than '
        "gunicorn, our PostgreSQL backends and the load generator while the scenario ran, and "
        '"load avg" the 1-minute load average at its end (our own processes included): discount '
        "a figure measured while others used much of the machine.",
    ]
    lines.append("")
    lines += _floor_lines(report.get("middleware_floor"))
    lines += _drift_lines(report.get("host_drift"))
    cpu_rows = [row for row in report["scenarios"] if row.get("extra", {}).get("cpu_ms_per_request")]
    if cpu_rows:
        lines += [
            "CPU per request (ms) and where the machine's cores went during each scenario:",
            "",
            "| scenario | gunicorn | PostgreSQL | load generator | load generator, % of a core "
            "| other processes, % of the machine | req/s if the cores were ours | mean latency then (Little) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in cpu_rows:
            cpu = row["extra"]["cpu_ms_per_request"]
            capacity = _capacity(cpu, meta.get("cpu_count"))
            concurrency = meta.get("concurrency")
            lines.append(
                "| {name} | {app} | {db} | {client} | {client_core:.0%} | {other} | {cap} | {lat} |".format(
                    name=row["extra"].get("cpu_label", row["name"]),
                    app=_cpu(cpu.get("gunicorn")),
                    db=_cpu(cpu.get("postgres")),
                    client=_cpu(cpu.get("loadgen")),
                    client_core=row["extra"].get("loadgen_core_share", 0.0),
                    other=_share(row["extra"].get("other_machine_share")),
                    cap=f"{capacity:.0f}" if capacity else "–",
                    lat=f"{1000 * concurrency / capacity:.0f} ms" if capacity and concurrency else "–",
                )
            )
        lines += [
            "",
            "The last two columns divide the cores by the CPU one request took (gunicorn + "
            "PostgreSQL + load generator): the throughput this code could reach if nobody else "
            "used the machine, and the mean latency 32 closed-loop clients would then see "
            "(concurrency / throughput). P95 is higher than that mean.",
            "",
        ]
    lines += _flash_lines(meta.get("flash_sales") or [])
    for item in report["skipped"]:
        lines.append(f"- skipped **{item['name']}**: {item['reason']}")
    if report["skipped"]:
        lines.append("")
    for note in meta.get("notes", []):
        lines.append(f"- note: {note}")
    if meta.get("notes"):
        lines.append("")
    verdict = "all targets met" if report["passed"] else "some targets NOT met"
    lines.append(f"**Result: {verdict}** ({report['errors']} errors in total).")
    lines.append("")
    return "\n".join(lines)


def _floor_line(floor: dict[str, Any] | None) -> list[str]:
    if not floor:
        return []
    return [
        "- load generator alone, against a do-nothing server on this machine: "
        f"{floor['rps']:.0f} req/s, P50 {floor['p50_ms']:.1f} ms, P95 {floor['p95_ms']:.1f} ms, "
        f"{floor['loadgen_cpu_ms_per_request']:.2f} ms CPU per request"
    ]


def _capacity(cpu: dict[str, float], cores: int | None) -> float | None:
    total = sum(cpu.get(part) or 0.0 for part in ("gunicorn", "postgres", "loadgen"))
    if not cores or total <= 0 or cpu.get("gunicorn") is None:
        return None
    return cores * 1000 / total


def _cpu(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _load(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _flash_lines(checks: list[dict[str, Any]]) -> list[str]:
    """The flash sales next to the baseline of the same run: claims/s, P95, what was issued,
    time to sell out, sold-out answers/s, and the issue's targets."""
    if not checks:
        return []

    def num(value: float | None, fmt: str) -> str:
        return "–" if value is None else format(value, fmt)

    lines = [
        "Flash sales (every attempt counted; 201 = a coupon, 409 = sold out or already claimed):",
        "",
        "| run | attempts | claims/s | P95 ms | P95 of the 201s | issued (counter / rows / 201s) "
        "| time to sell out | sold-out answers/s (P95) | vs baseline req/s | targets |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for c in checks:
        verdicts = ", ".join(f"{name}: {'pass' if ok else 'FAIL'}" for name, ok in c["targets"].items())
        lines.append(
            f"| {c['name']} | {c['attempts']} | {c['claims_per_s']:.0f} | {_ms(c['p95_ms'])} "
            f"| {_ms(c['p95_created_ms'])} | {c['issued_count']} / {c['coupon_rows']} / {c['answers_201']} "
            f"of {c['coupons']} | {num(c['sold_out_at_ms'], '.0f')} ms "
            f"| {num(c['sold_out_per_s'], '.0f')} ({_ms(c['sold_out_p95_ms'])} ms) "
            f"| {num(c['sold_out_vs_baseline'], '.0%')} | {verdicts} |"
        )
    return [*lines, ""]
