"""The loopback front door: the fake's handler behind the standard library's HTTP server.

`http.server.ThreadingHTTPServer` parses HTTP; this module only converts its request
into an `httpx.Request`, calls the handler and writes the `httpx.Response` back, on
HTTP/1.1 with keep-alive (the SDK's urllib3 pool reuses connections). API routes and
`/oauth/token` share the one port, because the SDK derives its login host from the API
host (`//api.` -> `//login.`), which leaves `http://127.0.0.1:N` unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

Handler = Callable[[httpx.Request], httpx.Response]
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
MAX_BODY = 16 * 1024 * 1024  # a request body larger than this is refused (400)


def _error(status: int, code: str, message: str) -> httpx.Response:
    """A Genesys-shaped error answer from the server itself (not from the fake's handler)."""
    body = {
        "message": message,
        "code": code,
        "status": status,
        "contextId": "",
        "details": [],
        "errors": [],
    }
    return httpx.Response(status, json=body)


def _request_handler(handler: Handler, base: str) -> type[BaseHTTPRequestHandler]:
    class _Adapter(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "chainsim-fakebus"
        sys_version = ""

        def _serve(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:  # unreadable: answer, then drop the connection
                self.close_connection = True
                self._answer(_error(400, "bad.request", f"Content-Length must be 0..{MAX_BODY}"))
                return
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(
                self.command, base + self.path, headers=list(self.headers.items()), content=body
            )
            try:
                response = handler(request)
            except Exception as exc:  # a bug in the fake: answer 500, keep serving
                response = _error(
                    500, "internal.server.error", f"fake bus error: {type(exc).__name__}"
                )
            self._answer(response)

        def _answer(self, response: httpx.Response) -> None:
            content = response.content
            self.send_response(response.status_code)
            for key, value in response.headers.multi_items():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if content and self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: object) -> None:
            """Silent: the bus keeps its own request log."""

    return _Adapter


class FakeServer:
    """A fake bus on `http://127.0.0.1:N` in a background thread; a context manager."""

    def __init__(self, handler: Handler, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self._httpd = ThreadingHTTPServer((host, port), _request_handler(handler, ""))
        self._httpd.daemon_threads = True
        address = self._httpd.server_address
        self.host = address[0] if isinstance(address[0], str) else address[0].decode()
        self.port = int(address[1])
        self.base_url = f"http://{self.host}:{self.port}"
        self._httpd.RequestHandlerClass = _request_handler(handler, self.base_url)
        self._thread: threading.Thread | None = None

    def start(self) -> FakeServer:
        """Start answering in a daemon thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"fakebus:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeServer({self.base_url!r})"
