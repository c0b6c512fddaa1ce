"""Where a run's metrics go besides the store: trackers such as TensorBoard (`--report-to`).

A Reporter receives every step's metrics (the keys of the store and of `--metrics-out`,
without "step", which is the step argument) from TrainingRun, and is closed when the run
ends. Reporters never decide a run's fate: one that cannot write (a full disk) says so
once in the log and stops, as the store still holds every metric.

TensorBoard event files go to `<workspace>/checkpoints/run-<id>/tensorboard/`, beside the
run's checkpoints, so `tensorboard --logdir <workspace>/checkpoints` shows every run of a
workspace side by side. They are written here with no dependency: the format is TFRecord
framing (length, CRC32C) around `Event` protocol buffers holding scalar summaries, the
file layout TensorBoard's own writers produce. Viewing them needs the `tensorboard`
package (the optional extra of that name). A resumed run marks where it restarted, so
TensorBoard drops the steps the resume replaces, as it does for its own writers.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from core.errors import StudioError

log = logging.getLogger("rlhf_studio.train")

REPORT_TO_CHOICES = ("none", "tensorboard")
TENSORBOARD_DIR = "tensorboard"
_FLOAT32_MAX = 3.4028234663852886e38


class Reporter(Protocol):
    """A tracker that records a run's metrics step by step."""

    def log(self, step: int, metrics: Mapping[str, float]) -> None: ...
    def close(self) -> None: ...


def build_reporters(
    report_to: Sequence[str], run_folder: Path, resumed_at: int | None = None
) -> list[Reporter]:
    """Reporters for the `--report-to` names, writing under `run_folder`; `resumed_at` is
    the step a resumed run continues after (later steps logged before are replaced)."""
    names = [name for name in dict.fromkeys(report_to) if name != "none"]
    unknown = [name for name in names if name not in REPORT_TO_CHOICES]
    if unknown:
        raise StudioError(
            f"--report-to {unknown[0]!r} is not known; choose from {', '.join(REPORT_TO_CHOICES)}"
        )
    purge_from = None if resumed_at is None else resumed_at + 1
    reporters: list[Reporter] = []
    if "tensorboard" in names:
        reporters.append(TensorBoardReporter(Path(run_folder) / TENSORBOARD_DIR, purge_from))
    return reporters


class TensorBoardReporter:
    """Scalars in a TensorBoard event file: one tag per metric key, at each step."""

    _FILE_VERSION = b"brain.Event:2"

    def __init__(self, folder: Path, purge_from_step: int | None = None) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StudioError(
                f"cannot create the TensorBoard folder {self.folder}: {error.strerror}; "
                "choose a writable workspace or leave --report-to out"
            ) from error
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
        self.path = _unused(self.folder / name)
        self._file: BinaryIO | None = self.path.open("ab")
        self._write(_event(time.time(), 0, file_version=self._FILE_VERSION))
        if purge_from_step is not None:
            self._write(_event(time.time(), purge_from_step, session_start=True))

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        """One scalar per numeric metric at `step` (NaN and inf kept, as TensorBoard can)."""
        values = [
            _scalar(key, float(value))
            for key, value in metrics.items()
            if key != "step" and isinstance(value, int | float) and not isinstance(value, bool)
        ]
        if values:
            self._write(_event(time.time(), step, summary=b"".join(values)))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, event: bytes) -> None:
        if self._file is None:
            return
        try:
            self._file.write(_record(event))
            self._file.flush()
        except OSError as error:
            log.warning("TensorBoard logging stopped (%s): %s", self.path, error)
            self.close()


def _unused(path: Path) -> Path:
    """`path`, or `path.1`, `path.2`... when a file of that name exists (same second)."""
    candidate, number = path, 0
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.{number}")
    return candidate


# ------------------------------------------------------------------ wire format


def _event(
    wall_time: float,
    step: int,
    *,
    file_version: bytes | None = None,
    summary: bytes | None = None,
    session_start: bool = False,
) -> bytes:
    """An `Event` message: wall_time (1, double), step (2, int64), file_version (3),
    summary (5), session_log (7) with status START (field 1 = 1)."""
    out = b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step)
    if file_version is not None:
        out += _field(3, file_version)
    if summary is not None:
        out += _field(5, summary)
    if session_start:
        out += _field(7, b"\x08\x01")
    return out


def _scalar(tag: str, value: float) -> bytes:
    """A `Summary.Value` (field 1 of Summary): tag (1, string), simple_value (2, float)."""
    if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
        value = math.copysign(math.inf, value)  # beyond float32 (struct would refuse it)
    return _field(1, _field(1, tag.encode("utf-8")) + b"\x15" + struct.pack("<f", value))


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protocol-buffer field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64: negative numbers as two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _record(data: bytes) -> bytes:
    """TFRecord framing: length, its masked CRC32C, the data, its masked CRC32C."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", _masked_crc(length))
        + data
        + struct.pack("<I", _masked_crc(data))
    )


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord files use."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
