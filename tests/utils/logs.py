"""Record what a module logs through its structlog ``logger``.

``structlog.testing.capture_logs`` misses loggers that structlog has cached
(``cache_logger_on_first_use``) once any earlier test in the same process logged through
them, so a test using it passes or fails depending on test order. Swapping the module's
``logger`` attribute for a recorder does not depend on that.
"""

from __future__ import annotations

from typing import Any

import pytest


class LogRecorder:
    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries

    def _record(self, level: str) -> Any:
        return lambda event, **kw: self.entries.append({"event": event, "log_level": level, **kw})

    def bind(self, **kw: Any) -> LogRecorder:
        return self

    def __getattr__(self, level: str) -> Any:
        return self._record(level)


def record_logs(monkeypatch: pytest.MonkeyPatch, *targets: str) -> list[dict[str, Any]]:
    """Replace each ``"package.module.logger"`` with one recorder; returns its entries."""
    entries: list[dict[str, Any]] = []
    recorder = LogRecorder(entries)
    for target in targets:
        monkeypatch.setattr(target, recorder)
    return entries
