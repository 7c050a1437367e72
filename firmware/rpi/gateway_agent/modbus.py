"""Modbus RTU reads with Debian's pymodbus.

pymodbus changed its client API between releases: 3.0 (Debian bookworm) takes `slave=`, newer
releases make `count` keyword-only and 3.10 renamed `slave` to `device_id`. The keyword is picked
from the installed signature once.
"""

from __future__ import annotations

import inspect
import logging
import math
from typing import Optional

import pymodbus
from pymodbus.client import ModbusSerialClient

try:
    from pymodbus.client.base import ModbusBaseClient
except ImportError:  # moved in later releases
    ModbusBaseClient = ModbusSerialClient

from .config import ModbusSettings, SlaveSettings

log = logging.getLogger("gateway.modbus")


def _unit_keyword(method) -> str:
    params = inspect.signature(method).parameters
    for name in ("device_id", "slave", "unit"):
        if name in params:
            return name
    return "slave"


def _client_kwargs(settings: ModbusSettings) -> dict:
    kwargs = dict(
        port=settings.port,
        baudrate=settings.baudrate,
        parity=settings.parity,
        bytesize=settings.bytesize,
        stopbits=settings.stopbits,
        timeout=settings.timeout_s,
    )
    if pymodbus.__version__.startswith("3.0"):
        # 3.0 stores int(timeout): 0.5 s would become 0 (no wait at all).
        kwargs["timeout"] = max(1, math.ceil(settings.timeout_s))
    base_params = inspect.signature(ModbusBaseClient.__init__).parameters
    if "strict" in base_params:
        # 3.0's "strict" enforces the 1.5-character gap inside a frame; USB RS-485 adapters (and ptys)
        # deliver bytes in bursts with larger gaps, which cuts valid answers short.
        kwargs["strict"] = False
    return kwargs


class ModbusReader:
    def __init__(self, settings: ModbusSettings) -> None:
        self.settings = settings
        # RTU is the default framer in every pymodbus 3.x release, so it is not passed (its type changed).
        self._client = ModbusSerialClient(**_client_kwargs(settings))
        self._unit_kw = _unit_keyword(self._client.read_holding_registers)

    def read(self, slave: SlaveSettings) -> Optional[float]:
        """Scaled value, or None (logged) when the slave did not answer properly."""
        if not self._client.connect():
            log.warning("cannot open Modbus port %s", self.settings.port)
            return None
        fn = self._client.read_holding_registers if slave.function == "holding" else self._client.read_input_registers
        try:
            rr = fn(slave.register, count=slave.count, **{self._unit_kw: slave.slave})
        except Exception as e:  # noqa: BLE001 - pymodbus raises many types for bus errors
            log.warning("Modbus slave %d register %d: %s", slave.slave, slave.register, e)
            self._client.close()
            return None
        if rr is None or rr.isError() or not hasattr(rr, "registers") or len(rr.registers) < slave.count:
            log.warning("Modbus slave %d register %d: no valid answer (%s)", slave.slave, slave.register, rr)
            self._client.close()  # reopening drops a late answer that would be taken for the next one
            return None
        raw = rr.registers[0]
        bits = 16
        if slave.count == 2:
            raw = (rr.registers[0] << 16) | rr.registers[1]
            bits = 32
        if slave.signed and raw >= 1 << (bits - 1):
            raw -= 1 << bits
        return round(raw * slave.scale, 6)

    def close(self) -> None:
        self._client.close()
