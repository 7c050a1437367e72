#!/usr/bin/python3
"""Modbus RTU slave for the agent tests, served by Debian's pymodbus on one end of a socat pty pair.

Every read of a holding register returns the next value of a counter (start, start+step, ...), so
each telemetry reading carries a distinct, increasing value and the tests can check order and loss.
Prints READY once the serial port is open.
"""

import argparse
import asyncio
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncSerialServer
from pymodbus.transaction import ModbusRtuFramer


class CountingBlock(ModbusSequentialDataBlock):
    def __init__(self, register: int, start: int, step: int) -> None:
        super().__init__(0, [0] * (register + 2))
        self.register = register
        self.next_value = start
        self.step = step

    def getValues(self, address, count=1):  # noqa: N802 - pymodbus API
        if address == self.register:
            value = self.next_value & 0xFFFF
            self.next_value += self.step
            print(f"READ {value}", flush=True)
            return [value] + [0] * (count - 1)
        return super().getValues(address, count)


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", required=True)
    p.add_argument("--slave", type=int, default=1)
    p.add_argument("--register", type=int, default=100)
    p.add_argument("--start", type=int, default=200)
    p.add_argument("--step", type=int, default=1)
    p.add_argument("--baudrate", type=int, default=9600)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    block = CountingBlock(a.register, a.start, a.step)
    # zero_mode: register N in a request is element N of the block (no +1 offset).
    slave = ModbusSlaveContext(hr=block, ir=block, zero_mode=True)
    context = ModbusServerContext(slaves={a.slave: slave}, single=False)
    server = await StartAsyncSerialServer(
        context=context, framer=ModbusRtuFramer, port=a.port, baudrate=a.baudrate, defer_start=True
    )
    await server.start()
    print("READY", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
