"""hyperv-daemons: which daemon starts on which /dev/vmbus node, read from the package.

Debian's package starts each daemon from a udev rule
    KERNEL=="vmbus/hv_kvp", TAG+="systemd", ENV{SYSTEMD_WANTS}+="hv-kvp-daemon.service"
whose unit runs `ExecStart=/usr/sbin/hv_kvp_daemon -n`, bound to the device
(BindsTo=): it starts when the node appears and stops when it goes. The init does
the same from the table this module writes to /etc/vmbh/daemons.
"""
from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

from .errors import BuildError

RULE_RE = re.compile(r'KERNEL=="(vmbus/[^"]+)".*SYSTEMD_WANTS\}\+="([^"]+)"')


@dataclasses.dataclass
class Daemon:
    node: str  # /dev/vmbus/hv_kvp
    service: str
    argv: list[str]
    state_dirs: list[str]

    def describe(self) -> dict:
        return dataclasses.asdict(self)

    def table_line(self) -> str:
        """One line of /etc/vmbh/daemons; the init splits it on white space."""
        if any(not re.fullmatch(r"[\w/.,:=+@%-]+", a) for a in [self.node, self.service, *self.argv]):
            raise BuildError(f"{self.service}: unsupported characters in {self.argv}")
        return " ".join([self.node, self.service, *self.argv])


def _unit_file(root: Path, service: str) -> Path | None:
    for base in ("lib/systemd/system", "usr/lib/systemd/system"):
        f = root / base / service
        if f.exists():
            return f
    return None


def _unit_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith(("#", ";")):
            fields[key.strip()] = value.strip()
    return fields


def find_daemons(root: Path) -> list[Daemon]:
    """The daemons of an unpacked hyperv-daemons package, from its udev rules."""
    rules = [f for base in ("lib/udev/rules.d", "usr/lib/udev/rules.d")
             for f in sorted((root / base).glob("*.rules"))]
    if not rules:
        raise BuildError("the hyperv-daemons package has no udev rules")
    daemons = []
    for rule in rules:
        for m in RULE_RE.finditer(rule.read_text()):
            node, service = m.group(1), m.group(2)
            unit = _unit_file(root, service)
            if unit is None:
                continue
            fields = _unit_fields(unit.read_text())
            argv = shlex.split(fields.get("ExecStart", "").lstrip("-@+!"))
            if not argv or not (root / argv[0].lstrip("/")).exists():
                continue
            state = [f"/var/lib/{d}" for d in fields.get("StateDirectory", "").split()]
            daemons.append(Daemon(f"/dev/{node}", service, argv, state))
    if not daemons:
        raise BuildError("the hyperv-daemons package starts no daemon from its udev rules")
    return daemons
