"""Who may use the studio's server and how much they may send: the checks every request passes before a route
sees it (an ASGI middleware), and the headers every response carries.

```
Host            must name this server: 127.0.0.1, localhost or [::1], or the host it was told to listen on (any
                IP address when that is 0.0.0.0 or ::), with its port           otherwise 421 (DNS rebinding)
POST PUT PATCH  need the page's own Origin (http://HOST:PORT, the Host of the    otherwise 403 (other web pages;
DELETE          request) and the per-start token the page reads from              a form or a fetch needs no
                GET /api/options, in the X-Studio-Token header                    preflight)
body            at most ``max_body`` bytes by Content-Length and as it streams   otherwise 413
                (a route that takes bigger bodies bounds them itself)
every response  SECURITY_HEADERS: no framing, no MIME sniffing, a CSP that allows only the page's own files
```

A web page elsewhere cannot read the token: the API sends no CORS headers, and a page that points its own name at
this machine (DNS rebinding) is refused by the Host check before anything else.
"""

from __future__ import annotations

import ipaddress
import json
import secrets

TOKEN_HEADER = "x-studio-token"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
MAX_BODY_BYTES = 64 * 1024  # a request form is a few kB; the upload route has its own, larger limit
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")  # fmt: skip
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class BodyTooLarge(Exception):
    """A request body streamed past its limit (raised from ``receive``; answered 413 when nothing was sent yet)."""


def new_token() -> str:
    """A fresh per-start token for :data:`TOKEN_HEADER`."""
    return secrets.token_urlsafe(24)


def split_host(value: str) -> tuple[str, int | None] | None:
    """``"name:port"`` (or ``"[v6]:port"``, port optional) → ``(name lower-cased, port)``; None when malformed."""
    value = value.strip().lower()
    port = None
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        rest = rest[1:] if rest else ""
    else:
        name, _, rest = value.partition(":")
    if rest:
        if not rest.isdigit() or len(rest) > 5:
            return None
        port = int(rest)
    return (name, port) if name else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """The server's policy: the host names it answers to (``bind_host`` is the address it was told to listen on,
    ``port`` its port, None: any), the ``token`` state-changing requests carry, and the body limit."""

    def __init__(
        self, bind_host: str = "127.0.0.1", port: int | None = None, token: str | None = None,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:  # fmt: skip
        self.bind_host = bind_host.strip("[]").lower()
        self.port = port
        self.token = token or new_token()
        self.max_body = max_body

    def host_names(self) -> str:
        """The names a request's Host may use, for messages."""
        names = sorted(LOOPBACK_NAMES | ({self.bind_host} - WILDCARD_HOSTS))
        if self.bind_host in WILDCARD_HOSTS:
            names.append("an IP address of this machine")
        port = f" with port {self.port}" if self.port is not None else ""
        return ", ".join(f"[{n}]" if ":" in n else n for n in names) + port

    def host_error(self, host: str | None) -> str | None:
        """Why a request with Host header ``host`` is refused (None: it names this server)."""
        parts = split_host(host) if host else None
        why = f"this server answers only to the host names {self.host_names()}"
        if parts is None:
            return f"a request needs a Host header; {why}"
        name, port = parts
        known = name in LOOPBACK_NAMES or name == self.bind_host
        if not known and not (self.bind_host in WILDCARD_HOSTS and _is_ip(name)):
            return f"the Host {host[:80]!r} is not this server (a page elsewhere that points its name here); {why}"
        if self.port is not None and (port if port is not None else 80) != self.port:
            return f"the Host {host[:80]!r} names another port; {why}"
        return None

    def origin_error(self, origin: str | None, host: str, token: str | None) -> str | None:
        """Why a state-changing request is refused (None: it comes from the page this server serves)."""
        if origin is None:
            return ("a request that changes something needs the Origin header of the studio's page (a browser "
                    f"sends it; a script sends Origin: http://{host})")  # fmt: skip
        if origin.strip().lower() != f"http://{host.strip().lower()}":
            return f"requests from other web pages are refused (Origin {origin[:80]!r}); use the studio's own page"
        if token is None or not secrets.compare_digest(token.encode(), self.token.encode()):
            return (f"a request that changes something needs the page's token in the {TOKEN_HEADER} header "
                    "(GET /api/options gives it; reload the page after a restart of the server)")  # fmt: skip
        return None


class GuardMiddleware:
    """Applies a :class:`Guard` to every HTTP request of ``app`` and adds :data:`SECURITY_HEADERS` to every response.
    ``own_limit`` lists the ``(method, path)`` routes that bound their bodies themselves."""

    def __init__(self, app, guard: Guard, own_limit: frozenset[tuple[str, str]] = frozenset()) -> None:
        self.app, self.guard, self.own_limit = app, guard, own_limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        started = False

        async def send_with_headers(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message = dict(message, headers=[*message.get("headers", []), *extra])
            await send(message)

        refusal = self._refusal(scope, headers)
        if refusal is not None:
            return await _answer(send_with_headers, *refusal)
        if (scope["method"], scope["path"]) not in self.own_limit:
            receive = self._bounded(receive)
        try:
            await self.app(scope, receive, send_with_headers)
        except BodyTooLarge:
            if not started:
                await _answer(send_with_headers, 413, self._too_large())

    def _refusal(self, scope, headers: dict[str, str | None]) -> tuple[int, str] | None:
        repeated = [name for name in ("host", "origin", TOKEN_HEADER) if name in headers and headers[name] is None]
        if repeated:
            return 400, f"the {repeated[0]} header is given more than once"
        host = headers.get("host")
        why = self.guard.host_error(host)
        if why is not None:
            return 421, why
        if scope["method"] in STATE_CHANGING:
            why = self.guard.origin_error(headers.get("origin"), host, headers.get(TOKEN_HEADER))
            if why is not None:
                return 403, why
        if (scope["method"], scope["path"]) in self.own_limit:
            return None
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.guard.max_body):
            return (413, self._too_large()) if length.isdigit() else (400, "the Content-Length header is not a number")
        return None

    def _too_large(self) -> str:
        return f"the request body is too large: at most {self.guard.max_body:,} bytes are accepted here"

    def _bounded(self, receive):
        seen = 0

        async def bounded():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.guard.max_body:
                    raise BodyTooLarge
            return message

        return bounded


def _headers(scope) -> dict[str, str | None]:
    """The request's headers by lower-case name (latin-1, as HTTP carries them); None for one given more than once."""
    out: dict[str, str | None] = {}
    for key, value in scope.get("headers", []):
        name = key.decode("latin-1").lower()
        out[name] = None if name in out else value.decode("latin-1")
    return out


async def _answer(send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
