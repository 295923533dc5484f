"""Python client of the `vmbh serve` control API (protocols/proto/control.proto).

The message classes are generated from the same .proto the C++ side uses, with
Debian's protoc, into the cache (keyed by the schema's hash), so there is no
generated code in the repository and no chance of a stale copy.

    with ControlClient(path) as c:
        c.wait_channel("kvp")
        r = c.kvp(op="GET", pool=0, key="k")     # KvpResult, or ControlError
"""
from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO / "protocols" / "proto"
MAX_FRAME = 16 << 20


class ControlError(RuntimeError):
    """The host answered with an error (the message says what failed)."""


def cache_dir() -> Path:
    return Path(os.environ.get("VMBH_CACHE", Path.home() / ".cache" / "vmbh"))


def load_messages():
    """Imports control_pb2 and trace_pb2, generating them first if needed."""
    protos = sorted(PROTO_DIR.glob("*.proto"))
    h = hashlib.sha256()
    for p in protos:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    out = cache_dir() / "pb" / h.hexdigest()[:24]
    if not (out / "control_pb2.py").exists():
        protoc = shutil.which("protoc")
        if not protoc:
            raise RuntimeError("protoc not found (Debian package protobuf-compiler; run ci/setup)")
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        subprocess.run([protoc, f"-I{PROTO_DIR}", f"--python_out={tmp}", *map(str, protos)],
                       check=True, capture_output=True, text=True)
        os.replace(tmp, out) if not out.exists() else shutil.rmtree(tmp)
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    return importlib.import_module("control_pb2"), importlib.import_module("trace_pb2")


pb, trace_pb = load_messages()


class ControlClient:
    """One connection to `vmbh serve --control PATH`. Calls block until the
    host answers; the socket timeout bounds every call."""

    def __init__(self, path: str | Path, timeout: float = 60.0, connect_timeout: float = 30.0):
        self.path = str(path)
        self.timeout = timeout
        self.sock = self._connect(connect_timeout)
        self.next_id = 1

    def _connect(self, connect_timeout: float) -> socket.socket:
        deadline = time.monotonic() + connect_timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                s.settimeout(self.timeout)
                return s
            except (FileNotFoundError, ConnectionRefusedError) as e:
                s.close()
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"vmbh serve control socket {self.path} not up after "
                                       f"{connect_timeout} s: {e}") from None
                time.sleep(0.05)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "ControlClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("vmbh serve closed the control socket")
            buf += chunk
        return bytes(buf)

    def call(self, request, timeout: float | None = None):
        """Sends a Request (id filled in) and returns its Response; raises
        ControlError when the response carries an error."""
        request.id = self.next_id
        self.next_id += 1
        body = request.SerializeToString()
        self.sock.settimeout(timeout or self.timeout)
        self.sock.sendall(struct.pack("<I", len(body)) + body)
        while True:
            (n,) = struct.unpack("<I", self._recv_exact(4))
            if n > MAX_FRAME:
                raise ConnectionError(f"control frame of {n} bytes")
            resp = pb.Response()
            resp.ParseFromString(self._recv_exact(n))
            if resp.id == request.id or resp.id == 0:
                break
        if resp.error:
            raise ControlError(resp.error)
        return resp

    # --- host ---
    def status(self):
        return self.call(pb.Request(get_status=pb.GetStatus())).status

    def wait_channel(self, name: str, state: str = "open", timeout: float = 60.0):
        req = pb.Request(wait_channel=pb.WaitChannel(name=name, state=state, timeout_ms=int(timeout * 1000)))
        return self.call(req, timeout=timeout + 10).channel

    def rescind(self, name: str):
        return self.call(pb.Request(rescind=pb.Rescind(name=name)))

    def reoffer(self, name: str):
        return self.call(pb.Request(reoffer=pb.Reoffer(name=name)))

    def set_ic_versions(self, name: str, framework: list[str] | tuple[str, ...] = (),
                        message: list[str] | tuple[str, ...] = ()):
        """What IC `name` offers at its next negotiation ("3.0" strings, in
        order); an empty list means that list's default. Returns IcVersions
        (the lists now in force)."""
        req = pb.Request(set_ic_versions=pb.SetIcVersions(name=name, framework=list(framework),
                                                          message=list(message)))
        return self.call(req).ic_versions

    def trace(self, start: int = 0, max_records: int = 0):
        return self.call(pb.Request(read_trace=pb.ReadTrace(**{"from": start}, max_records=max_records))).trace

    def quit(self):
        return self.call(pb.Request(quit=pb.Quit()))

    # --- devices ---
    def heartbeat(self):
        return self.call(pb.Request(heartbeat=pb.HeartbeatQuery())).heartbeat

    def shutdown(self, action: str = "SHUTDOWN", force: bool = False, timeout: float = 10.0):
        req = pb.Request(shutdown=pb.ShutdownRequest(action=pb.ShutdownRequest.Action.Value(action), force=force,
                                                     timeout_ms=int(timeout * 1000)))
        return self.call(req, timeout=timeout + 10).ic

    def timesync(self, kind: str = "SYNC", host_offset_ns: int = 0, timeout: float = 10.0):
        req = pb.Request(timesync=pb.TimesyncRequest(kind=pb.TimesyncRequest.Kind.Value(kind),
                                                     host_offset_ns=host_offset_ns,
                                                     timeout_ms=int(timeout * 1000)))
        return self.call(req, timeout=timeout + 10).ic

    def kvp(self, op: str, timeout: float = 10.0, **fields):
        req = pb.Request(kvp=pb.KvpRequest(op=pb.KvpRequest.Op.Value(op), timeout_ms=int(timeout * 1000), **fields))
        return self.call(req, timeout=timeout + 10).kvp

    def vss(self, op: str, timeout: float = 30.0):
        req = pb.Request(vss=pb.VssRequest(op=pb.VssRequest.Op.Value(op), timeout_ms=int(timeout * 1000)))
        return self.call(req, timeout=timeout + 10).ic

    def fcopy(self, file_name: str, path: str, data: bytes, overwrite: bool = False, create_path: bool = False,
              cancel_after: int | None = None, timeout: float = 60.0):
        req = pb.Request(fcopy=pb.FcopyRequest(file_name=file_name, path=path, data=data, overwrite=overwrite,
                                               create_path=create_path, cancel=cancel_after is not None,
                                               cancel_after_bytes=cancel_after or 0,
                                               timeout_ms=int(timeout * 1000)))
        return self.call(req, timeout=timeout + 10).fcopy
