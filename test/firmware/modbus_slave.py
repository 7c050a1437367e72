#!/usr/bin/env python3
"""Modbus RTU slaves (Debian's python3-pymodbus) on a serial port, for the firmware's RS485 master.

usage: modbus_slave.py PORT SLAVE_ID[,SLAVE_ID...]
Every slave holds the same holding registers 0..9: 0x4120 0x0000 (10.0 as f32), 235, 0xFFFF (-1 as
i16), 0x0001 0x86A0 (100000 as u32), 0...; and input register 0 = 100 x its id + 1 (101, 201, ...),
so each reading says which slave answered.
"""
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartSerialServer
from pymodbus.transaction import ModbusRtuFramer

port = sys.argv[1]
slave_ids = [int(s) for s in sys.argv[2].split(",")]
logging.basicConfig(level=logging.INFO)


def slave(slave_id):
    # pymodbus' sequential blocks are addressed from 1 for protocol address 0 (zero_mode=False).
    holding = ModbusSequentialDataBlock(1, [0x4120, 0x0000, 235, 0xFFFF, 0x0001, 0x86A0, 0, 0, 0, 0])
    inputs = ModbusSequentialDataBlock(1, [100 * slave_id + 1, 0, 0, 0])
    return ModbusSlaveContext(hr=holding, ir=inputs, zero_mode=False)


context = ModbusServerContext(slaves={i: slave(i) for i in slave_ids}, single=False)
print(f"modbus slave {','.join(map(str, slave_ids))} on {port}", flush=True)
StartSerialServer(context=context, framer=ModbusRtuFramer, port=port, baudrate=9600, timeout=0.05)
