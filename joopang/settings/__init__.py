"""Settings modules: ``dev`` (default, embedded), ``test``, ``prod``, ``bench``.

Every value comes from the environment (see ``.env.example``); the defaults need no
external service so that ``make run`` works on a fresh laptop.
"""
