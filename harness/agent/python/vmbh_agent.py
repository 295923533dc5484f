"""Python client of the vmbh guest agent (protocol: docs/agent-protocol.md).

Used by the image tests and the conformance suite. Standard library only.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import struct
import time
import zlib

MAGIC = b"VMBA"
VERSION = 1
HEADER = struct.Struct("<4sBBHIII")  # magic, version, type, op, request_id, length, crc32
MAX_PAYLOAD = 16 * 1024 * 1024

REQUEST, RESPONSE, ERROR = 1, 2, 3
OP_PING, OP_EXEC, OP_READ_FILE, OP_WRITE_FILE, OP_STAT = 1, 2, 3, 4, 5
ERROR_NAMES = {1: "bad_frame", 2: "bad_request", 3: "unknown_op", 4: "os_error",
               5: "too_large", 6: "internal"}


class AgentError(Exception):
    """The agent answered with an error frame."""

    def __init__(self, code: int, sys_errno: int, message: str, request_id: int):
        self.code, self.sys_errno, self.message, self.request_id = code, sys_errno, message, request_id
        name = ERROR_NAMES.get(code, f"code {code}")
        super().__init__(f"agent error {name}: {message}" + (f" (errno {sys_errno})" if sys_errno else ""))

    @property
    def name(self) -> str:
        return ERROR_NAMES.get(self.code, str(self.code))


class AgentTimeout(Exception):
    """No answer within the client's timeout."""


class MalformedReply(Exception):
    """The agent's answer does not decode."""


def frame(type_: int, op: int, request_id: int, payload: bytes) -> bytes:
    head = struct.pack("<4sBBHII", MAGIC, VERSION, type_, op, request_id, len(payload))
    return head + struct.pack("<I", zlib.crc32(head + payload)) + payload


class _Reader:
    """Bounds-checked payload reader: a short payload is MalformedReply, never garbage."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int, field: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise MalformedReply(f"{field}: truncated at offset {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self, f): return self.take(1, f)[0]
    def u32(self, f): return struct.unpack("<I", self.take(4, f))[0]
    def i32(self, f): return struct.unpack("<i", self.take(4, f))[0]
    def u64(self, f): return struct.unpack("<Q", self.take(8, f))[0]
    def i64(self, f): return struct.unpack("<q", self.take(8, f))[0]
    def blob(self, f): return self.take(self.u32(f), f)
    def str(self, f): return self.blob(f).decode("utf-8", "surrogateescape")

    def end(self, what: str) -> None:
        if self.pos != len(self.data):
            raise MalformedReply(f"{what}: {len(self.data) - self.pos} trailing bytes")


def _blob(b: bytes) -> bytes:
    return struct.pack("<I", len(b)) + b


def _str(s: str) -> bytes:
    return _blob(s.encode("utf-8", "surrogateescape"))


def _list(items: list[str]) -> bytes:
    return struct.pack("<I", len(items)) + b"".join(_str(i) for i in items)


@dataclasses.dataclass
class ExecResult:
    termination: int  # 0 exited, 1 killed by a signal
    code: int         # exit status or signal number
    flags: int
    duration_ms: int
    stdout: bytes
    stderr: bytes

    timed_out = property(lambda self: bool(self.flags & 1))
    stdout_truncated = property(lambda self: bool(self.flags & 2))
    stderr_truncated = property(lambda self: bool(self.flags & 4))

    @property
    def ok(self) -> bool:
        return self.termination == 0 and self.code == 0


@dataclasses.dataclass
class StatResult:
    mode: int
    uid: int
    gid: int
    nlink: int
    size: int
    inode: int
    mtime_ns: int
    link_target: str


class AgentClient:
    """One connection to the agent (a unix socket exposed by QEMU, or any socket)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()
        self.next_id = 1

    @classmethod
    def connect_unix(cls, path: str, timeout: float = 10.0) -> "AgentClient":
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                return cls(s)
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() > deadline:
                    raise AgentTimeout(f"no agent socket at {path} after {timeout:.0f} s")
                time.sleep(0.05)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- transport -------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self, timeout: float) -> tuple[int, int, int, bytes]:
        """Next well-formed frame (type, op, request_id, payload); skips non-frame bytes."""
        deadline = time.monotonic() + timeout
        while True:
            start = self.buf.find(MAGIC)
            if start < 0:
                del self.buf[:max(0, len(self.buf) - 3)]
            else:
                del self.buf[:start]
                if len(self.buf) >= HEADER.size:
                    magic, ver, type_, op, rid, length, crc = HEADER.unpack_from(self.buf)
                    if ver != VERSION or length > MAX_PAYLOAD:
                        del self.buf[:1]
                        continue
                    if len(self.buf) >= HEADER.size + length:
                        payload = bytes(self.buf[HEADER.size:HEADER.size + length])
                        if zlib.crc32(bytes(self.buf[:16]) + payload) != crc:
                            del self.buf[:1]
                            continue
                        del self.buf[:HEADER.size + length]
                        return type_, op, rid, payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise AgentTimeout(f"no answer from the agent within {timeout:.1f} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise AgentTimeout(f"no answer from the agent within {timeout:.1f} s") from None
            if not chunk:
                raise ConnectionError("the agent connection closed")
            self.buf += chunk

    def call(self, op: int, payload: bytes, timeout: float = 10.0) -> bytes:
        rid = self.next_id
        self.next_id = self.next_id % 0xFFFFFFFF + 1
        self.send_raw(frame(REQUEST, op, rid, payload))
        deadline = time.monotonic() + timeout
        while True:
            type_, r_op, r_id, body = self.read_frame(max(0.0, deadline - time.monotonic()))
            if r_id != rid:
                continue  # a late answer, or an answer to garbage (id 0)
            if type_ == ERROR:
                r = _Reader(body)
                err = AgentError(r.u32("error.code"), r.i32("error.sys_errno"), r.str("error.message"), r_id)
                r.end("error")
                raise err
            if type_ != RESPONSE or r_op != op:
                raise MalformedReply(f"answer to request {rid} has type {type_} op {r_op}")
            return body

    # -- operations ------------------------------------------------------------------

    def ping(self, data: bytes = b"", timeout: float = 10.0) -> str:
        r = _Reader(self.call(OP_PING, _blob(data), timeout))
        agent, echoed = r.str("ping.agent"), r.blob("ping.data")
        r.end("ping")
        if echoed != data:
            raise MalformedReply("ping.data differs from what was sent")
        return agent

    def wait_ready(self, timeout: float = 30.0) -> str:
        """Pings until the agent answers (bytes sent before it opens its port are lost)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.ping(timeout=min(1.0, max(0.05, deadline - time.monotonic())))
            except AgentTimeout:
                if time.monotonic() > deadline:
                    raise

    def exec(self, argv: list[str], env: list[str] | None = None, cwd: str = "", stdin: bytes = b"",
             timeout_ms: int = 30000, max_stdout: int = 0, max_stderr: int = 0,
             clear_env: bool = False) -> ExecResult:
        payload = (_list(argv) + _list(env or []) + _str(cwd) + _blob(stdin) +
                   struct.pack("<IIII", timeout_ms, max_stdout, max_stderr, 1 if clear_env else 0))
        r = _Reader(self.call(OP_EXEC, payload, timeout=timeout_ms / 1000 + 5))
        res = ExecResult(r.u8("exec.termination"), r.i32("exec.code"), r.u32("exec.flags"),
                         r.u32("exec.duration_ms"), r.blob("exec.stdout"), r.blob("exec.stderr"))
        r.end("exec")
        return res

    def sh(self, script: str, timeout_ms: int = 30000) -> ExecResult:
        return self.exec(["/bin/sh", "-c", script], timeout_ms=timeout_ms)

    def read_file(self, path: str, offset: int = 0, max_length: int = 0) -> bytes:
        r = _Reader(self.call(OP_READ_FILE, _str(path) + struct.pack("<QI", offset, max_length)))
        r.u64("read_file.file_size")
        r.u32("read_file.flags")
        data = r.blob("read_file.data")
        r.end("read_file")
        return data

    def write_file(self, path: str, data: bytes, mode: int = 0, append: bool = False,
                   exclusive: bool = False, fsync: bool = False) -> int:
        flags = (1 if append else 0) | (2 if exclusive else 0) | (4 if fsync else 0)
        r = _Reader(self.call(OP_WRITE_FILE, _str(path) + struct.pack("<II", mode, flags) + _blob(data)))
        written = r.u64("write_file.written")
        r.end("write_file")
        return written

    def stat(self, path: str, no_follow: bool = False) -> StatResult:
        r = _Reader(self.call(OP_STAT, _str(path) + struct.pack("<I", 1 if no_follow else 0)))
        res = StatResult(r.u32("stat.mode"), r.u32("stat.uid"), r.u32("stat.gid"), r.u32("stat.nlink"),
                         r.u64("stat.size"), r.u64("stat.inode"), r.i64("stat.mtime_ns"),
                         r.str("stat.link_target"))
        r.end("stat")
        return res
