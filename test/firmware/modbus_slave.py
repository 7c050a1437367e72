#!/usr/bin/env python3
"""A Modbus RTU slave (Debian's python3-pymodbus) on a serial port, for the firmware's RS485 master.

usage: modbus_slave.py PORT SLAVE_ID  — holding registers 0..9: 0x4120 0x0000 (10.0 as f32), 235, 0...
"""
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartSerialServer
from pymodbus.transaction import ModbusRtuFramer

port, slave_id = sys.argv[1], int(sys.argv[2])
logging.basicConfig(level=logging.INFO)
# pymodbus' sequential blocks are addressed from 1 for protocol address 0 (zero_mode=False).
holding = ModbusSequentialDataBlock(1, [0x4120, 0x0000, 235, 0, 0, 0, 0, 0, 0, 0])
store = ModbusSlaveContext(hr=holding, zero_mode=False)
context = ModbusServerContext(slaves={slave_id: store}, single=False)
print(f"modbus slave {slave_id} on {port}", flush=True)
StartSerialServer(context=context, framer=ModbusRtuFramer, port=port, baudrate=9600, timeout=0.05)
