"""Knowledge imported from a web site (a real HTTP server on loopback)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

import spur

PAGES = {
    "/robots.txt": ("text/plain", "User-agent: *\nDisallow: /internal\n"),
    "/help/shipping": (
        "text/html",
        "<h2>Shipping to Iceland</h2><p>Parcels to Iceland take 8 working days.</p>",
    ),
    "/internal/notes": ("text/plain", "staff only"),
}


class Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        page = PAGES.get(self.path)
        if page is None:
            self.send_error(404)
            return
        body = page[1].encode()
        self.send_response(200)
        self.send_header("content-type", page[0])
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_page_becomes_knowledge(site: str, tmp_path: Path) -> None:
    imported = spur.import_url(f"{site}/help/shipping", tmp_path, allow_private=True)
    assert imported["files"] == [
        {"name": "web-127-0-0-1-help-shipping.html", "url": f"{site}/help/shipping", "sections": 1}
    ]
    assert imported["skipped"] == []
    kb = spur.load_knowledge(str(tmp_path))
    assert "8 working days" in kb.search("how long does shipping to iceland take")[0].text


def test_robots_txt_and_private_addresses_are_respected(site: str, tmp_path: Path) -> None:
    with pytest.raises(spur.FetchError, match="robots.txt"):
        spur.import_url(f"{site}/internal/notes", tmp_path, allow_private=True)
    with pytest.raises(spur.ValidationError, match="private"):
        spur.import_url(f"{site}/help/shipping", tmp_path)
    with pytest.raises(spur.ValidationError):
        spur.import_url("ftp://shop.example/faq", tmp_path)
    assert list(tmp_path.iterdir()) == []
