"""The init's daemon watcher, run with the host's busybox sh outside a guest."""
import subprocess
import time
from pathlib import Path

INIT = Path(__file__).resolve().parent.parent / "init.sh"


def watcher_function() -> str:
    lines, inside = [], False
    for line in INIT.read_text().splitlines():
        inside = inside or line.startswith("watch_daemons()")
        if inside:
            lines.append(line)
            if line == "}":
                break
    return "\n".join(lines)


def test_daemon_starts_when_node_appears_and_stops_when_it_goes(tmp_path):
    daemon = tmp_path / "fake_daemon"
    daemon.write_text("#!/bin/sh\necho \"started $*\"\nexec sleep 60\n")
    daemon.chmod(0o755)
    node = tmp_path / "hv_kvp"
    (tmp_path / "daemons").write_text(f"{node} hv-kvp-daemon.service {daemon} -n\n")
    (tmp_path / "fns.sh").write_text(watcher_function())
    pidf = tmp_path / "hv-kvp-daemon.service.pid"

    def one_pass() -> None:
        subprocess.run(["busybox", "sh", "-c",
                        f". {tmp_path}/fns.sh; RUN={tmp_path}; DAEMONS={tmp_path}/daemons; "
                        "watch_daemons"], check=True, timeout=10)

    one_pass()
    assert not pidf.exists()
    node.touch()
    one_pass()
    pid = int(pidf.read_text())
    one_pass()  # running already: not started twice
    assert int(pidf.read_text()) == pid
    time.sleep(0.3)
    assert (tmp_path / "hv-kvp-daemon.service.log").read_text() == "started -n\n"
    assert Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep")
    node.unlink()
    one_pass()
    assert not pidf.exists()
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes().split(b")")[1][:3]:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("daemon still running after its node went away")
