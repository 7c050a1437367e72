"""Command line entry: `python3 mqtt_client.py [--config FILE]`."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading

from . import AGENT_VERSION
from . import bootstrap
from .certs import CertError
from .config import DEFAULT_CONFIG_PATH, AgentConfig, ConfigError, load_config


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


def _with_broker(cfg: AgentConfig) -> AgentConfig:
    """mqtt.host from config.json, else the broker the server named at onboarding (state_dir/broker.json)."""
    if cfg.mqtt.host is not None:
        return cfg
    b = bootstrap.broker_from_state(cfg.state_dir)
    if b is None:
        raise ConfigError(f"mqtt.host is not set and {os.path.join(cfg.state_dir, bootstrap.BROKER)} (written by onboarding) is missing")
    return dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, host=b["mqtt_broker"], port=b["mqtt_port"]))


def _onboard(cfg: AgentConfig) -> bool:
    """Zero-touch onboarding until an identity is installed (True) or SIGTERM/SIGINT (False)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return bootstrap.Bootstrapper(cfg, stop).run()


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
        # The same unit runs both modes: no certificate + a bootstrap section = onboard first.
        if bootstrap.needed(cfg):
            if not _onboard(cfg):
                return 0
        elif cfg.bootstrap is not None:
            bootstrap.drop_leftovers(cfg)
        cfg = _with_broker(cfg)
        from .agent import Agent  # after the config: a config error should not wait for paho's import

        agent = Agent(cfg)
    except (ConfigError, CertError, bootstrap.BootstrapError) as e:
        log.error("%s", e)
        return 2
    except OSError as e:
        log.error("cannot start: %s", e)
        return 1
    return agent.run()
