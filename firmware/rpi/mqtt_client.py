#!/usr/bin/python3
"""TDS gateway agent (systemd unit gateway-mqtt.service runs this file)."""

import sys

from gateway_agent.main import main

if __name__ == "__main__":
    sys.exit(main())
