"""Slow bodies: a request whose body stops half way is answered 408 and closed.

Against a real uvicorn on 127.0.0.1 with a raw socket (an HTTP client would not send
half a body), with ``request_body_timeout_s`` = 0.5 s.
"""

import json
import socket
import time

import pytest
from fastapi import FastAPI

from tests.hostile.live_server import read_response, serving

TIMEOUT_S = 0.5
# Generous: the 408 is due at 0.5 s; a loaded CI machine may be slow to schedule it.
ANSWER_DEADLINE_S = 4.0
# The server's timer may fire a little early by our clock: uvloop counts timers from its
# cached, millisecond loop time (seen: 0.49996 s for 0.5 s).
EARLY_S = 0.01

pytestmark = pytest.mark.parametrize(
    "settings_overrides", [{"request_body_timeout_s": TIMEOUT_S}]
)


def _head(path: str, content_type: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    return status_line, headers, body


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/track", "application/json", b'{"event": "x", "user_id": 1, "properties"'),
        (
            "/upload-image?user_id=1",
            "multipart/form-data; boundary=XyZ",
            b'--XyZ\r\nContent-Disposition: form-data; name="file"; '
            b'filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG',
        ),
    ],
)
def test_half_a_body_then_silence_is_answered_408_and_closed(
    app: FastAPI, path: str, content_type: str, body: bytes
) -> None:
    with serving(app) as address, socket.create_connection(address) as sock:
        started = time.monotonic()
        sock.sendall(_head(path, content_type, len(body) * 10) + body)

        response = read_response(sock, started + ANSWER_DEADLINE_S)
        elapsed = time.monotonic() - started

    status_line, headers, payload = _split(response)
    assert status_line == "HTTP/1.1 408 Request Timeout", response
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert json.loads(payload) == {
        "detail": "The request body was not received within 0.5 s"
    }
    # answered after the timeout, and the server closed the connection (read_response
    # returned before its deadline)
    assert TIMEOUT_S - EARLY_S <= elapsed < ANSWER_DEADLINE_S


def test_a_body_sent_in_pieces_within_the_timeout_is_served(app: FastAPI) -> None:
    body = b'{"event": "page_view", "user_id": 1, "properties": {}}'
    with serving(app) as address, socket.create_connection(address) as sock:
        sock.sendall(_head("/track", "application/json", len(body)) + body[:10])
        time.sleep(0.05)  # a pause well inside the timeout, not a wait for anything
        sock.sendall(body[10:])
        sock.settimeout(ANSWER_DEADLINE_S)
        status_line = sock.recv(65536).split(b"\r\n", 1)[0]

    assert status_line == b"HTTP/1.1 202 Accepted"
