"""A transport for SendGrid's SDK that keeps one HTTP(S) connection per thread.

python_http_client (the SDK's HTTP library) builds a urllib opener for every call (every
default handler, the proxy handler reading os.environ) and sends "Connection: close": a new
TCP connection, and in production a new TLS handshake, per email. KeepAliveClient is its Client
with only that part replaced: the SDK still builds the request (URL, headers, JSON body) as it
always did, and the answer is still its Response, or its HTTPError through `handle_error`; the
request goes out over the calling thread's connection (http.client, opened lazily, kept open).

What a failure means, for never sending twice (see classify_transport_error):
- NotSent: the connection could not be opened; nothing went out.
- NoAnswer: the connection broke after the request began going out and before an answer came;
  the server may have it.
- TimeoutError: no answer in time, as with urllib; the server may have it too.
A connection is closed after any failure, when it was idle longer than IDLE_S, or when the
server closed it meanwhile (then the next request goes on a new one, as if it were the first).
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from python_http_client.client import Client, Response
from python_http_client.exceptions import handle_error

# A connection idle longer than this is closed rather than reused. Servers and load balancers
# close idle keep-alive connections (commonly after 60-75 s; SendGrid does not say when), and a
# close that crosses our request on the wire leaves the email's fate unknown (a lookup before
# it is sent again). Well under those limits, this costs at most one reconnect per quiet spell.
IDLE_S = 15.0


# By the URL's scheme; HTTPS with the standard library's default context, as urllib's.
_CONNECTIONS: dict[str, type[http.client.HTTPConnection]] = {
    "http": http.client.HTTPConnection,
    "https": http.client.HTTPSConnection,
}


class NotSent(ConnectionError):
    """Opening the connection failed: nothing of the request went out."""


class NoAnswer(ConnectionError):
    """The connection broke after the request began going out, before an answer: the server
    may have taken it."""


class _Held(threading.local):
    """The calling thread's connection, where it goes, and since when it has been idle."""

    conn: http.client.HTTPConnection | None = None
    origin: tuple[str, str] = ("", "")
    idle_since: float = 0.0


class ThreadConnections:
    """One connection per thread, to the origin of its requests, reused call after call."""

    def __init__(self, idle_s: float = IDLE_S) -> None:
        self.idle_s = idle_s
        self._held = _Held()

    def exchange(self, request: urllib.request.Request, timeout: float | None) -> Response:
        """The request over this thread's connection; python_http_client's Response, or its
        HTTPError for an answer outside 2xx (raised as the SDK raises it)."""
        held = self._held
        conn = self._connection(request, timeout)
        try:
            conn.request(request.get_method(), request.selector, request.data, _headers(request))
            answer = conn.getresponse()
            if 200 <= answer.status < 300:
                response = Response(answer)  # reads the body
                error = None
            else:  # as urllib hands it to the SDK; handle_error reads the body
                error = handle_error(
                    urllib.error.HTTPError(
                        request.full_url, answer.status, answer.reason, answer.headers, answer
                    )
                )
        except TimeoutError:
            self.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise NoAnswer(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            self.close()
            raise
        held.idle_since = time.monotonic()
        if error is not None:  # a whole answer: the connection stays
            raise error from None
        return response

    def close(self) -> None:
        """Closes this thread's connection (the next request opens a new one)."""
        held = self._held
        if held.conn is not None:
            held.conn.close()
            held.conn = None

    def _connection(
        self, request: urllib.request.Request, timeout: float | None
    ) -> http.client.HTTPConnection:
        held = self._held
        origin = (request.type, request.host)
        if timeout is None:
            timeout = socket.getdefaulttimeout()
        conn = held.conn
        if conn is not None and not (
            held.origin == origin
            and conn.sock is not None  # closed after an answer with "Connection: close"
            and time.monotonic() - held.idle_since < self.idle_s
            and not _readable(conn.sock)  # the server closed it while it was idle
        ):
            self.close()
            conn = None
        if conn is None:
            conn = _CONNECTIONS[request.type](request.host, timeout=timeout)  # as urllib does
            conn.auto_open = 0  # opened here only, so that a failure to open is told apart
            try:
                conn.connect()
            except OSError as exc:
                conn.close()
                raise NotSent(f"{type(exc).__name__}: {exc}") from exc
            held.conn, held.origin = conn, origin
        elif conn.timeout != timeout:
            conn.timeout = timeout
            conn.sock.settimeout(timeout)
        return conn


def _readable(sock: socket.socket) -> bool:
    """Something to read while no answer is due: the server closed the connection (or sent
    what nobody asked for). poll, not select: select fails on descriptors past 1023."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _headers(request: urllib.request.Request) -> dict[str, str]:
    """The headers urllib sends for this request (AbstractHTTPHandler.do_request_ and do_open,
    in that order: Content-Length, Host, then the SDK's, title-cased), but for its
    "Connection: close". http.client adds "Accept-Encoding: identity" first, as for urllib."""
    headers: dict[str, str] = {}
    if request.data is not None:
        headers["Content-Length"] = str(len(request.data))  # type: ignore[arg-type]
    headers["Host"] = request.host
    headers.update((name.title(), value) for name, value in request.header_items())
    return headers


class KeepAliveClient(Client):
    """python_http_client.Client whose calls (`client.mail.send.post(...)`) go over the calling
    thread's connection in `connections`. Everything else is the SDK's: the URL segments, the
    version, the headers; `_build_client` keeps the class along the chain."""

    def __init__(self, connections: ThreadConnections, **client: Any) -> None:
        super().__init__(**client)
        self.connections = connections

    @classmethod
    def replacing(cls, stock: Client, connections: ThreadConnections) -> KeepAliveClient:
        """This client in place of the SDK's own (SendGridAPIClient.client), as it was set up."""
        return cls(
            connections,
            host=stock.host,
            request_headers=stock.request_headers,
            version=stock._version,
            url_path=stock._url_path,
            append_slash=stock.append_slash,
            timeout=stock.timeout,
        )

    def _build_client(self, name: str | None = None) -> KeepAliveClient:
        url_path = [*self._url_path, name] if name else self._url_path
        return KeepAliveClient(
            self.connections,
            host=self.host,
            version=self._version,
            request_headers=self.request_headers,
            url_path=url_path,
            append_slash=self.append_slash,
            timeout=self.timeout,
        )

    def __getattr__(self, name: str) -> Any:
        if name not in self.methods:
            return super().__getattr__(name)  # a URL segment, or version()
        method = name.upper()

        def http_request(
            request_body: Any = None,
            query_params: dict[str, Any] | None = None,
            request_headers: dict[str, str] | None = None,
            timeout: float | None = None,
            **_: Any,
        ) -> Response:
            # python_http_client's http_request, step for step, but for the opener.
            if request_headers:
                self._update_headers(request_headers)
            if request_body is None:
                data = None
            elif (
                "Content-Type" in self.request_headers
                and self.request_headers["Content-Type"] != "application/json"
            ):
                data = request_body.encode("utf-8")
            else:
                self.request_headers.setdefault("Content-Type", "application/json")
                data = json.dumps(request_body).encode("utf-8")
            request = urllib.request.Request(
                self._build_url(query_params),
                headers=self.request_headers,
                data=data,
                method=method,
            )
            return self.connections.exchange(request, timeout or self.timeout)

        return http_request
