"""TDS gateway agent for Raspberry Pi: Modbus RTU telemetry over mutual-TLS MQTT."""

AGENT_VERSION = "1.0.0"
