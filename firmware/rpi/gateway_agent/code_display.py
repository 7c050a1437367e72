"""What an installer reads off a Pi waiting to be claimed: the activation code, the key fingerprint and
the device QR as text, on the console and in the log.

The QR is made by Debian's python3-qrcode and drawn with half blocks, two module rows per text line,
light modules as ink: consoles show light text on a dark background, so the code reads dark-on-light
like a printed one, quiet zone included.
"""

from __future__ import annotations

import logging
import os
from typing import List, Optional, Tuple

log = logging.getLogger("gateway.bootstrap")

QUIET_ZONE = 2  # modules; enough for phone cameras on a screen with a dark surround
# (top light, bottom light) -> character
_HALF = {(True, True): "\u2588", (True, False): "\u2580", (False, True): "\u2584", (False, False): " "}


def qr_lines(payload: str) -> Optional[List[str]]:
    """The QR of `payload` as text lines, or None when python3-qrcode is not installed."""
    try:
        import qrcode  # Debian: python3-qrcode
    except ImportError:
        return None
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE)
    qr.add_data(payload)  # upper case + ':' fits the alphanumeric mode
    qr.make(fit=True)
    dark = qr.get_matrix()  # True = dark module, quiet zone included
    size = len(dark)
    lines = []
    for r in range(0, size, 2):
        top = dark[r]
        bottom = dark[r + 1] if r + 1 < size else [False] * size
        lines.append("".join(_HALF[(not t, not b)] for t, b in zip(top, bottom)))
    return lines


def grouped_fingerprint(fp: str) -> str:
    """The first 16 hex digits in groups of four, as the operator's preview shows them."""
    return " ".join(fp[i : i + 4] for i in range(0, 16, 4))


def show(console: Optional[str], heading: str, fields: List[Tuple[str, str]], qr_payload: Optional[str], to_log: bool = True) -> None:
    """The block on the console; in the log too unless `to_log` is False (a repeat: one line there)."""
    lines = ["", heading]
    width = max(len(k) for k, _ in fields) if fields else 0
    lines += [f"  {k.ljust(width)}  {v}" for k, v in fields]
    if qr_payload:
        drawn = qr_lines(qr_payload)
        if drawn is None:
            lines.append("  (no text QR: install python3-qrcode)")
        else:
            lines += [""] + ["  " + row for row in drawn]
        lines.append(f"  {qr_payload}")
    lines.append("")
    if to_log:
        for line in lines:
            log.info("%s", line)
    else:
        log.info("still waiting to be claimed: %s", ", ".join(f"{k} {v}" for k, v in fields))
    if console:
        write_console(console, "\n".join(lines) + "\n")


def write_console(path: str, text: str) -> None:
    # Never created: a console that is not there (a Pi without a screen, a container) is skipped.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY)
    except OSError as e:
        log.debug("console %s not written: %s", path, e.strerror)
        return
    try:
        os.write(fd, text.encode("utf-8"))
    except OSError as e:
        log.debug("console %s not written: %s", path, e.strerror)
    finally:
        os.close(fd)
