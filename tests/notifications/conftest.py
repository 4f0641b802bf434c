from tests.payments.conftest import sandbox  # noqa: F401
