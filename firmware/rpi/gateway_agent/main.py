"""Command line entry: `python3 mqtt_client.py [--config FILE]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import AGENT_VERSION
from .certs import CertError
from .config import DEFAULT_CONFIG_PATH, ConfigError, load_config


def _setup_logging(verbose: bool) -> None:
    # Under systemd stdout/stderr go to the journal, which adds its own timestamps.
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=fmt)
    # --verbose is about this agent; pymodbus and paho are very chatty at DEBUG.
    logging.getLogger("gateway").setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("pymodbus", "paho"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="gateway-iot-agent", description="TDS gateway agent (MQTT over mutual TLS)")
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH, help=f"config file (default {DEFAULT_CONFIG_PATH})")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=AGENT_VERSION)
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    log = logging.getLogger("gateway")
    try:
        cfg = load_config(args.config)
        from .agent import Agent  # after the config: a config error should not wait for paho's import

        agent = Agent(cfg)
    except (ConfigError, CertError) as e:
        log.error("%s", e)
        return 2
    except OSError as e:
        log.error("cannot start: %s", e)
        return 1
    return agent.run()
