#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "joopang.settings.dev")
    from django.core.management import execute_from_command_line

    if sys.argv[1:2] == ["runserver"]:
        from joopang.tracing import setup_tracing

        setup_tracing(service_name="joopang-web")  # off unless OTEL_* ask

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
