"""HTTPS to the issuance server for zero-touch onboarding: standard library only, the server's CA pinned.

Only the CA in `ca_file` is trusted (no system store), the host name is checked, TLS 1.2 or later.
Every answer is returned with its status, JSON body, Retry-After and Date; a connection that brings no
HTTP answer raises Transport with a short code (tls_verify, tls, dns, connect, timeout, bad_response).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, Optional

MAX_BODY = 64 * 1024


class Transport(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Answer:
    status: int
    body: Dict[str, Any]
    retry_after: Optional[int]
    date: Optional[float]  # Unix seconds from the Date header

    @property
    def code(self) -> str:
        details = self.body.get("details")
        c = details.get("code") if isinstance(details, dict) else None
        return c if isinstance(c, str) else f"http_{self.status}"

    @property
    def error(self) -> str:
        e = self.body.get("error")
        return e if isinstance(e, str) else f"HTTP status {self.status}"


class ServerApi:
    def __init__(self, base_url: str, ca_file: str, timeout: float = 20.0) -> None:
        u = urllib.parse.urlsplit(base_url)
        if u.scheme != "https" or not u.hostname or u.query or u.fragment or u.username:
            raise ValueError(f"{base_url} is not an https://host[:port]/path URL")
        self.host = u.hostname
        self.port = u.port or 443
        self.base_path = u.path.rstrip("/")
        self.timeout = timeout
        try:
            self.context = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as e:
            raise ValueError(f"cannot load the server CA from {ca_file}: {e}") from e
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2

    def call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None, headers: Optional[Dict[str, str]] = None) -> Answer:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        h = {"Accept": "application/json", "User-Agent": "tds-gateway-agent"}
        if data is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=self.timeout)
        try:
            conn.request(method, self.base_path + path, body=data, headers=h)
            resp = conn.getresponse()
            raw = resp.read(MAX_BODY + 1)
            if len(raw) > MAX_BODY:
                raise Transport("bad_response", "the server's answer is too large")
            retry = resp.getheader("Retry-After")
            date = resp.getheader("Date")
            status = resp.status
        except ssl.SSLCertVerificationError as e:
            raise Transport("tls_verify", f"the server's certificate is refused by the pinned CA ({e.verify_message})") from e
        except ssl.SSLError as e:
            raise Transport("tls", f"TLS with {self.host} failed: {e.reason or e}") from e
        except socket.gaierror as e:
            raise Transport("dns", f"cannot resolve {self.host}") from e
        except (socket.timeout, TimeoutError) as e:
            raise Transport("timeout", f"no answer from {self.host}:{self.port} in {self.timeout:.0f} s") from e
        except http.client.HTTPException as e:
            raise Transport("bad_response", f"not an HTTP answer: {e}") from e
        except OSError as e:
            raise Transport("connect", f"cannot connect to {self.host}:{self.port}: {e.strerror or e}") from e
        finally:
            conn.close()
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = {}
        if not isinstance(parsed, dict):
            parsed = {}
        when = None
        if date:
            try:
                when = email.utils.parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                when = None
        retry_after = int(retry) if retry and retry.isdigit() else None
        return Answer(status=status, body=parsed, retry_after=retry_after, date=when)
