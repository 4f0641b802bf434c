"""The benchmark's report: ``latest.json`` (everything) and ``latest.md`` (the table)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.stats import ScenarioSummary

BASELINE = "baseline"
#: The same view on Django's default middleware (``joopang.settings.bench_bare``).
BARE = "baseline_bare"


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
    """Summaries plus ratios to the baseline's P95 and req/s measured in the same run."""
    base = next((s for s in summaries if s.name == BASELINE), None)
    rows = []
    for summary in summaries:
        row = summary.as_dict()
        row["p95_vs_baseline"] = _ratio(summary.p95_ms, base.p95_ms) if base else None
        row["rps_vs_baseline"] = _ratio(summary.rps, base.rps) if base else None
        rows.append(row)
    floor = middleware_floor(summaries)
    return {
        "meta": meta,
        "baseline": BASELINE if base else None,
        "middleware_floor": floor,
        "scenarios": rows,
        "skipped": list(skipped),
        "passed": all(s.passed for s in summaries)
        and bool(summaries)
        and all(all(check["targets"].values()) for check in meta.get("flash_sales", []))
        and (floor is None or floor["passed"]),
        "errors": sum(s.errors for s in summaries),
    }


def _gunicorn_cpu(summary: ScenarioSummary) -> float | None:
    value = summary.extra.get("cpu_ms_per_request", {}).get("gunicorn")
    return float(value) if value else None


def middleware_floor(summaries: Sequence[ScenarioSummary]) -> dict[str, Any] | None:
    """The baseline (Joopang's middleware) against ``baseline_bare`` (Django's default
    middleware) of the same run: gunicorn CPU per request and req/s, and their ratios
    (issue 25: the full stack may cost no more CPU per request than the stock one)."""
    base = next((s for s in summaries if s.name == BASELINE), None)
    bare = next((s for s in summaries if s.name == BARE), None)
    if base is None or bare is None:
        return None
    base_cpu, bare_cpu = _gunicorn_cpu(base), _gunicorn_cpu(bare)
    cpu_ratio = base_cpu / bare_cpu if base_cpu and bare_cpu else None
    return {
        "baseline_cpu_ms": base_cpu,
        "bare_cpu_ms": bare_cpu,
        "cpu_ratio": cpu_ratio,
        "baseline_rps": base.rps,
        "bare_rps": bare.rps,
        "rps_ratio": _ratio(base.rps, bare.rps),
        "passed": cpu_ratio is not None and cpu_ratio <= 1.0,
    }


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
        "",
    ]


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _verdict(row: dict[str, Any]) -> str:
    target = row["p95_target_ms"]
    if row["passed"]:
        return "pass" if target is not None else "pass (0 errors)"
    reasons = []
    if not row["requests"]:
        reasons.append("no requests")
    if row["errors"]:
        reasons.append(f"{row['errors']} errors")
    if target is not None and not row["p95_ms"] <= target:
        reasons.append(f"P95 > {target:g} ms")
    return "FAIL: " + ", ".join(reasons)


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
        "| scenario | req/s | P50 ms | P95 ms | P99 ms | errors | requests | P95 vs baseline "
        "| req/s vs baseline | P95 target | result |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in report["scenarios"]:
        target = row["p95_target_ms"]
        lines.append(
            "| {name} | {rps:.0f} | {p50} | {p95} | {p99} | {errors} ({rate:.2%}) | {requests} "
            "| {p95x} | {rpsx} | {target} | {verdict} |".format(
                name=row["name"],
                rps=row["rps"],
                p50=_ms(row["p50_ms"]),
                p95=_ms(row["p95_ms"]),
                p99=_ms(row["p99_ms"]),
                errors=row["errors"],
                rate=row["error_rate"],
                requests=row["requests"],
                p95x=_times(row["p95_vs_baseline"]),
                rpsx=_times(row["rps_vs_baseline"]),
                target=f"≤ {target:g} ms" if target is not None else "–",
                verdict=_verdict(row),
            )
        )
    lines.append("")
    lines += _floor_lines(report.get("middleware_floor"))
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
