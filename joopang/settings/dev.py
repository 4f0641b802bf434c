"""Local development on the embedded default (``make run``)."""

from joopang.settings.base import *  # noqa: F403
from joopang.settings.env import env_bool

DEBUG = env_bool("DEBUG", True)
