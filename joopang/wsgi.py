import os

from django.core.wsgi import get_wsgi_application

from joopang.tracing import setup_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "joopang.settings.dev")
setup_tracing(service_name="joopang-web")  # off unless OTEL_* ask (before the middleware chain is built)
application = get_wsgi_application()
