"""The Python agent client against the real vmbh-agent (over --listen), no VM needed."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import vmbh_agent  # noqa: E402

REPO = Path(__file__).resolve().parents[4]
AGENT = Path(os.environ.get("VMBH_AGENT", REPO / "build/dev/harness/agent/vmbh-agent"))


@pytest.fixture
def client(tmp_path):
    if not AGENT.exists():
        pytest.fail(f"{AGENT} is not built: run 'cmake --build --preset dev' first")
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen([str(AGENT), "--listen", str(sock), "--idle-ms", "300"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with vmbh_agent.AgentClient.connect_unix(str(sock), timeout=10) as c:
            c.wait_ready(timeout=10)
            yield c
    finally:
        proc.kill()
        proc.wait()


def test_ping_names_the_agent_and_echoes_data(client):
    assert client.ping(b"\x00hello").startswith("vmbh-agent ")


def test_exec_returns_status_stdout_stderr_and_uses_stdin(client):
    r = client.exec(["/bin/sh", "-c", "cat; echo err >&2; exit 3"], stdin=b"in")
    assert (r.termination, r.code, r.stdout, r.stderr) == (0, 3, b"in", b"err\n")


def test_exec_timeout_kills_the_command(client):
    t0 = time.monotonic()
    r = client.exec(["sleep", "100"], timeout_ms=300)
    assert r.timed_out and r.termination == 1 and time.monotonic() - t0 < 10


def test_exec_of_a_missing_program_is_an_os_error(client):
    with pytest.raises(vmbh_agent.AgentError) as e:
        client.exec(["/nonexistent/prog"])
    assert e.value.name == "os_error" and e.value.sys_errno == 2


def test_files_round_trip_and_stat(client, tmp_path):
    path = str(tmp_path / "f")
    assert client.write_file(path, b"abc", mode=0o600) == 3
    assert client.read_file(path) == b"abc"
    st = client.stat(path)
    assert st.size == 3 and st.mode & 0o777 == 0o600


def test_garbage_gets_an_error_answer_and_the_next_request_works(client):
    client.send_raw(b"\x00\xffnot a frame at all" + b"VMBA" + b"\x01" * 30)
    _type, _op, _rid, _payload = client.read_frame(timeout=10)
    assert _type == vmbh_agent.ERROR
    assert client.ping(b"after").startswith("vmbh-agent")


def test_a_frame_with_a_bad_crc_is_answered_with_its_request_id(client):
    bad = bytearray(vmbh_agent.frame(vmbh_agent.REQUEST, vmbh_agent.OP_PING, 77, b"\x00\x00\x00\x00"))
    bad[16] ^= 0xFF
    client.send_raw(bytes(bad))
    _type, _op, rid, _payload = client.read_frame(timeout=10)
    assert (_type, rid) == (vmbh_agent.ERROR, 77)


def test_a_payload_that_does_not_decode_is_a_bad_request_naming_the_field(client):
    with pytest.raises(vmbh_agent.AgentError) as e:
        client.call(vmbh_agent.OP_PING, b"\x05\x00", timeout=5)
    assert e.value.name == "bad_request" and "ping.data" in e.value.message


def test_a_silent_peer_is_a_timeout_not_a_hang(tmp_path):
    import socket
    path = str(tmp_path / "silent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    with vmbh_agent.AgentClient.connect_unix(path) as c:
        t0 = time.monotonic()
        with pytest.raises(vmbh_agent.AgentTimeout):
            c.ping(timeout=0.3)
        assert time.monotonic() - t0 < 2
    server.close()
