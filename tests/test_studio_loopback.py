"""The real studio server on 127.0.0.1 (``audiogen studio --port 0`` in a child process, the debug model), probed over
its socket as other programs and other web pages would: the Host it answers to, the Origin and token a change needs,
the body sizes it takes, simple (preflight-free) requests from other pages, and the headers of every answer."""

import http.client
import json
import urllib.parse

import pytest

pytest.importorskip("fastapi", reason="the studio extra is not installed (pip install -e '.[dev]')")
pytest.importorskip("uvicorn", reason="the studio extra is not installed (pip install -e '.[dev]')")

EVIL = "http://evil.example"
SECURITY_HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from audiogen.studio.testing import StudioProcess

    with StudioProcess(tmp_path_factory.mktemp("studio") / "library", model="debug") as proc:
        yield proc


@pytest.fixture(scope="module")
def where(server):
    """``(address, port, origin, token)`` of the server, as its page sees them."""
    url = urllib.parse.urlsplit(server.url)
    origin = f"http://{url.netloc}"
    status, _, body = _call(url.hostname, url.port, "GET", "/api/options")
    assert status == 200
    return url.hostname, url.port, origin, json.loads(body).get("token", "")


def _call(host, port, method, path, headers=None, body=None, chunked=False):
    """One request on a fresh connection; ``headers`` may set Host itself. Returns ``(status, headers, body)``."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


def _multipart(name: str, data: bytes) -> tuple[str, bytes]:
    boundary = "studio-test-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n")  # fmt: skip
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def test_it_answers_only_to_its_own_host(where):
    host, port, origin, token = where
    mine = {"Origin": origin, "X-Studio-Token": token}
    for name in (f"attacker.example:{port}", f"127.0.0.1:{port + 1}", "localhost"):
        for method, path in (("GET", "/api/tracks"), ("GET", "/"), ("DELETE", "/api/tracks/1")):
            status, _, body = _call(host, port, method, path, {**mine, "Host": name})
            assert status == 421, (name, method, path, status)
            assert b"not this server" in body or b"another port" in body
    for name in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert _call(host, port, "GET", "/api/tracks", {"Host": name})[0] == 200, name


def test_simple_requests_from_other_pages_are_refused(where):
    """A form or a fetch on any page may send multipart or text/plain without a preflight; the Origin tells."""
    host, port, origin, token = where
    ctype, upload = _multipart("poster.png", b"\x89PNG\r\n\x1a\n not really a picture")
    job = json.dumps({"text": "x", "duration": 1, "variants": 1})
    senders = {"another page": {"Origin": EVIL}, "no Origin": {}, "no token": {"Origin": origin},
               "another page with the token": {"Origin": EVIL, "X-Studio-Token": token}}  # fmt: skip
    for who, headers in senders.items():
        for path, kind, body in (("/api/briefs", ctype, upload), ("/api/jobs", "text/plain", job),
                                 ("/api/jobs", "application/json", job)):  # fmt: skip
            status, _, answer = _call(host, port, "POST", path, {**headers, "Content-Type": kind}, body)
            assert status == 403, (who, path, kind, status, answer)
            assert json.loads(answer)["detail"]
    page = {"Origin": origin, "X-Studio-Token": token}
    status, _, answer = _call(host, port, "POST", "/api/jobs", {**page, "Content-Type": "text/plain"}, job)
    assert status == 415, answer  # even from the page: JSON only as JSON
    status, _, answer = _call(host, port, "POST", "/api/briefs", {**page, "Content-Type": ctype}, upload)
    assert status == 422 and "cannot be read as a picture" in json.loads(answer)["errors"]["brief"]
    status, _, answer = _call(host, port, "GET", "/api/jobs")
    assert json.loads(answer)["jobs"] == []  # nothing was queued


def test_bodies_are_bounded_on_the_wire(where):
    host, port, origin, token = where
    page = {"Origin": origin, "X-Studio-Token": token, "Content-Type": "application/json"}
    conn = http.client.HTTPConnection(host, port, timeout=30)  # a stated length of 1 GB: refused before it is sent
    try:
        conn.putrequest("POST", "/api/jobs")
        for name, value in {**page, "Content-Length": str(10**9)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(b'{"text": "')
        res = conn.getresponse()
        assert res.status == 413 and b"too large" in res.read()
    finally:
        conn.close()
    chunks = (b'{"text": "' if i == 0 else b"x" * 8192 for i in range(40))  # no Content-Length: counted as it streams
    status, _, answer = _call(host, port, "POST", "/api/jobs", page, chunks, chunked=True)
    assert status == 413 and b"at most 65,536 bytes" in answer
    status, _, answer = _call(host, port, "POST", "/api/jobs", page, json.dumps({"emotion": "Z" * 30_000}))
    assert status == 422 and len(answer) < 1000 and b"ZZZZ" not in answer


def test_every_answer_carries_the_security_headers(where):
    host, port, origin, _ = where
    answers = [
        _call(host, port, "GET", "/"),
        _call(host, port, "GET", "/static/app.js"),
        _call(host, port, "GET", "/api/options"),
        _call(host, port, "GET", "/api/tracks/1/file/mp3"),
        _call(host, port, "GET", "/", {"Host": "evil.example"}),
        _call(host, port, "DELETE", "/api/tracks/1", {"Origin": origin}),
    ]
    assert [a[0] for a in answers] == [200, 200, 200, 404, 421, 403]
    for status, headers, _ in answers:
        for name in SECURITY_HEADERS:
            assert name in headers, (status, name)
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "access-control-allow-origin" not in answers[2][1]  # no CORS: other pages cannot read the token
