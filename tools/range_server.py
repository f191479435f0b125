"""A small HTTP server on 127.0.0.1 for the STAC tests and the bytes benchmark: files with range requests, the
bytes served counted per file, a STAC API search over the items it is given, and the failures a real
catalogue shows, on demand.

It stands in for a cloud bucket and a STAC API, which this machine cannot reach:
GDAL's /vsicurl/ reads COGs from it by range, pystac-client searches it. Each
failure is a rule on one path: answer a status (403, 404, 503) a number of
times, drop the connection without an answer, or ask for a token in the query
string (as Azure's SAS tokens are).

The server runs in a process of its own: rasterio keeps Python's lock while
GDAL opens a file, so a server thread in the reading process could not answer.
The parent steers it through /__control/ paths.

    with RangeServer(folder) as server:
        server.rule("B04.tif", status=404)
        ...  read server.url("item.json") ...
        server.bytes_served()["B04.tif"]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

CHUNK = 64 * 1024
CONTROL = "__control/"
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CONFORMS_TO = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
]


class RangeServer:
    """Serves the files under `root` on 127.0.0.1 (a free port) from a child process; see the module's doc."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self._process: subprocess.Popen | None = None
        self.base = ""

    def __enter__(self) -> "RangeServer":
        self._process = subprocess.Popen([sys.executable, "-u", __file__, str(self.root)], stdout=subprocess.PIPE,
                                         text=True)
        line = self._process.stdout.readline().strip() if self._process.stdout else ""
        if not line.startswith("http://"):
            self._process.kill()
            raise RuntimeError(f"the range server did not start: {line!r}")
        self.base = line
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def url(self, relative: str) -> str:
        return f"{self.base}/{relative.lstrip('/')}"

    def _control(self, action: str, document: object = None) -> object:
        data = None if document is None else json.dumps(document).encode()
        request = urllib.request.Request(self.url(CONTROL + action), data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def rule(self, path: str, *, status: int | None = None, drop: bool = False, times: int | None = None,
             token: str | None = None) -> None:
        """How `path` misbehaves: answer `status` or `drop` the connection for the next `times` requests (None:
        always); `token`: the query must hold sig=<token>, else 403."""
        self._control("rule", {"path": path, "status": status, "drop": drop, "times": times, "token": token})

    def clear_rules(self) -> None:
        self._control("clear")

    def catalogue(self, items: list[dict]) -> None:
        """The items /search answers from."""
        self._control("catalogue", {"items": items})

    def bytes_served(self) -> Counter:
        return Counter(self._control("counts")["bytes"])

    def requests(self) -> list[list[str]]:
        """(method, path, Range header) of every request since the last reset, control requests left out."""
        return self._control("counts")["requests"]

    def reset_counts(self) -> None:
        self._control("reset")


# ---------------------------------------------------------------------------------------- the server process


class _State:
    def __init__(self, root: Path):
        self.root = root
        self.lock = threading.Lock()
        self.rules: dict[str, dict] = {}
        self.items: list[dict] = []
        self.bytes: Counter[str] = Counter()
        self.requests: list[tuple[str, str, str]] = []

    def take_rule(self, path: str) -> dict | None:
        with self.lock:
            rule = self.rules.get(path)
            if rule is None or rule["token"] is not None or rule["times"] is None:
                return rule
            if rule["times"] <= 0:
                return None
            rule["times"] -= 1
            return rule


def _bbox_overlaps(item: dict, bbox: list[float] | None) -> bool:
    if not bbox:
        return True
    xmin, ymin, xmax, ymax = item["bbox"][:4]
    return not (xmax < bbox[0] or xmin > bbox[2] or ymax < bbox[1] or ymin > bbox[3])


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _in_interval(item: dict, interval: str | None) -> bool:
    if not interval:
        return True
    start, _, end = interval.partition("/")
    moment = _moment(item["properties"]["datetime"])
    return (start in ("", "..") or moment >= _moment(start)) and (end in ("", "..") or moment <= _moment(end))


def _matches_query(item: dict, query: dict | None) -> bool:
    tests = {"lt": float.__lt__, "lte": float.__le__, "gt": float.__gt__, "gte": float.__ge__, "eq": float.__eq__}
    for name, conditions in (query or {}).items():
        value = item["properties"].get(name)
        for operator, limit in conditions.items():
            if value is None or not tests[operator](float(value), float(limit)):
                return False
    return True


def search(items: list[dict], parameters: dict) -> list[dict]:
    """The items a STAC API /search returns for these parameters (collections, bbox, datetime, query, limit)."""
    collections = parameters.get("collections")
    found = [item for item in items
             if (not collections or item.get("collection") in collections)
             and _bbox_overlaps(item, parameters.get("bbox")) and _in_interval(item, parameters.get("datetime"))
             and _matches_query(item, parameters.get("query"))]
    return found[: int(parameters.get("limit") or 100)]


def _get_parameters(query: dict) -> dict:
    """A GET /search query string as the JSON body POST would carry."""
    parameters: dict = {}
    if "collections" in query:
        parameters["collections"] = query["collections"][0].split(",")
    if "bbox" in query:
        parameters["bbox"] = [float(v) for v in query["bbox"][0].split(",")]
    for name in ("datetime", "limit"):
        if name in query:
            parameters[name] = query[name][0]
    if "query" in query:
        parameters["query"] = json.loads(query["query"][0])
    return parameters


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet: the tests read the counters instead
            pass

        def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
            self._answer(head=True)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(head=False)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            self._answer(head=False, body=self.rfile.read(length) if length else b"")

        def _answer(self, head: bool, body: bytes = b"") -> None:
            parsed = urlparse(self.path)
            path = unquote(parsed.path).lstrip("/")
            if path.startswith(CONTROL):
                return self._control(path[len(CONTROL):], body)
            with state.lock:
                state.requests.append((self.command, path, self.headers.get("Range", "")))
            rule = state.take_rule(path)
            if rule is not None and rule["drop"]:
                self.close_connection = True
                self.connection.shutdown(2)  # socket.SHUT_RDWR: no status line, no bytes
                return None
            if rule is not None and rule["token"] is not None \
                    and parse_qs(parsed.query).get("sig", [""])[0] != rule["token"]:
                return self._send(403, b"AuthenticationFailed: the token is missing or wrong", "text/plain", head)
            if rule is not None and rule["status"] is not None:
                return self._send(rule["status"], f"status {rule['status']}".encode(), "text/plain", head)
            file = (state.root / path).resolve()
            if state.root in file.parents and file.is_file():
                return self._send_file(file, path, head)
            document = self._api(path, parse_qs(parsed.query), body)
            if document is None:
                return self._send(404, b"not found", "text/plain", head)
            return self._send(200, json.dumps(document).encode(), "application/json", head)

        def _api(self, path: str, query: dict, body: bytes) -> dict | None:
            base = f"http://{self.headers.get('Host')}"
            if path == "":
                return {"type": "Catalog", "id": "local", "stac_version": "1.0.0", "description": "test catalogue",
                        "conformsTo": CONFORMS_TO,
                        "links": [{"rel": "self", "href": base + "/"}, {"rel": "root", "href": base + "/"},
                                  {"rel": "search", "href": base + "/search", "method": "GET",
                                   "type": "application/geo+json"},
                                  {"rel": "search", "href": base + "/search", "method": "POST",
                                   "type": "application/geo+json"}]}
            if path == "conformance":
                return {"conformsTo": CONFORMS_TO}
            if path == "search":
                parameters = json.loads(body) if body else _get_parameters(query)
                with state.lock:
                    items = list(state.items)
                return {"type": "FeatureCollection", "features": search(items, parameters), "links": []}
            return None

        def _control(self, action: str, body: bytes) -> None:
            document = json.loads(body) if body else {}
            with state.lock:
                if action == "rule":
                    state.rules[document.pop("path")] = document
                elif action == "clear":
                    state.rules.clear()
                elif action == "catalogue":
                    state.items = document["items"]
                elif action == "reset":
                    state.bytes.clear()
                    state.requests.clear()
                answer = {"bytes": dict(state.bytes), "requests": state.requests} if action == "counts" else {}
            self._send(200, json.dumps(answer).encode(), "application/json", head=False)

        def _send(self, status: int, data: bytes, kind: str, head: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not head:
                self.wfile.write(data)

        def _send_file(self, file: Path, name: str, head: bool) -> None:
            size = file.stat().st_size
            start, end, status = 0, size - 1, 200
            wanted = self.headers.get("Range")
            if wanted:
                match = _RANGE_RE.match(wanted.strip())
                if not match or not (match.group(1) or match.group(2)):
                    return self._send(416, b"only single byte ranges are served", "text/plain", head)
                if match.group(1):
                    start = int(match.group(1))
                    end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
                else:  # the last N bytes
                    start = max(0, size - int(match.group(2)))
                if start >= size or start > end:
                    return self._send(416, b"range outside the file", "text/plain", head)
                status = 206
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if head:
                return None
            with open(file, "rb") as handle:
                handle.seek(start)
                left = end - start + 1
                while left > 0:
                    data = handle.read(min(CHUNK, left))
                    if not data:
                        break
                    self.wfile.write(data)
                    left -= len(data)
                    with state.lock:
                        state.bytes[name] += len(data)
            return None

    return Handler


def serve(root: Path) -> None:
    """Serve `root` until terminated; the first line on stdout is the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(_State(root.resolve())))
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print(f"http://{host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
