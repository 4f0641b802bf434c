import os
import time

from bench.run import Services


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_stop_ends_the_process_and_its_children(tmp_path, monkeypatch):
    # given a service that starts a child of its own (like gunicorn's workers)
    monkeypatch.setattr("bench.run.LOG_DIR", tmp_path)
    pidfile = tmp_path / "child.pid"
    services = Services()
    proc = services.start("shell", ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], dict(os.environ))
    for _ in range(50):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.05)
    child = int(pidfile.read_text())
    assert _alive(child)
    # when
    services.stop()
    # then both are gone, and stopping again is harmless
    assert proc.poll() is not None
    time.sleep(0.1)
    assert not _alive(child)
    services.stop()
