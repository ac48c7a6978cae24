"""Explore a trained generator's designs in the browser: the studio's web server (one HTML page and a small
JSON API, on Python's standard library).

    python -m gan.studio ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt [port=7860] [use_ema=true]
        [search_steps=60]    # optimisation steps of a photo search (each also stops after 30 s)
        [build_encoder=true] # train the encoder of "Nearest training images" at start-up if none is cached

Then open http://127.0.0.1:7860. It binds to 127.0.0.1 (this machine only) unless host= says otherwise.
"""

import json
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gan.cli import arguments, run_tool
from gan.errors import ConfigError
from gan.studio.app import BadRequest, Studio
from gan.studio.nearest import Unavailable
from gan.studio.photo import MAX_PHOTO_BYTES, MAX_SEARCH_STEPS

MAX_BODY = 4_000_000  # bytes: 256 designs of 512-d latents fit many times over
MAX_PHOTO_BODY = MAX_PHOTO_BYTES * 4 // 3 + 1000  # a photo, base64-encoded in JSON
MAX_DRAIN = 64_000_000  # a larger body is read and dropped (so the page gets the sentence), up to this
UNLOCKED = {"/api/project/status", "/api/project/cancel"}  # they read the search's state, never G


def refuse_constant(name: str):
    raise BadRequest(f"{name} is not a number the studio accepts (standard JSON numbers only)")


PAGE = Path(__file__).with_name("page.html")


class Handler(BaseHTTPRequestHandler):
    studio: Studio  # its lock: one generator, one request (or photo search step) at a time

    def do_GET(self) -> None:
        if self.path in ("/", "/index.html"):
            self.reply(HTTPStatus.OK, PAGE.read_bytes(), "text/html; charset=utf-8")
        elif self.path == "/api/info":
            self.reply_json(self.studio.info())
        else:
            self.reply_json({"error": f"no page at {self.path}"}, HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:
        routes = {
            "/api/page": lambda r: self.studio.page(
                r.get("seed"), r.get("count"), r.get("label"), r.get("image"), r.get("psi")
            ),
            "/api/variations": lambda r: self.studio.variations(
                r.get("design"), r.get("strength"), r.get("seed"), r.get("count")
            ),
            "/api/interpolate": lambda r: self.studio.interpolate(r.get("a"), r.get("b"), r.get("steps")),
            "/api/render": lambda r: self.studio.render(r.get("designs")),
            "/api/directions": lambda r: self.studio.directions(),
            "/api/name": lambda r: self.studio.name(r.get("direction"), r.get("name")),
            "/api/strips": lambda r: self.studio.strips(r.get("design"), r.get("directions")),
            "/api/nearest": lambda r: self.studio.nearest(r.get("design")),
            "/api/project": lambda r: self.studio.project(r.get("photo"), r.get("steps")),
            "/api/project/status": lambda r: self.studio.search_status(r.get("search")),
            "/api/project/cancel": lambda r: self.studio.cancel(r.get("search")),
            "/api/png": lambda r: self.studio.png(r.get("design")),
            "/api/zip": lambda r: self.studio.zip(r.get("designs")),
        }
        if self.path not in routes:
            return self.reply_json({"error": f"no action at {self.path}"}, HTTPStatus.NOT_FOUND)
        try:
            request = self.read_json()
            if not isinstance(request, dict):
                raise BadRequest("the request must be a JSON object")
            with threading.Lock() if self.path in UNLOCKED else self.studio.lock:
                result = routes[self.path](request)
        except (BadRequest, json.JSONDecodeError) as err:
            return self.reply_json({"error": str(err)}, HTTPStatus.BAD_REQUEST)
        except Exception as err:  # a bug, not the user's input: say so on the page, keep serving
            traceback.print_exc()
            return self.reply_json({"error": f"internal error: {err!r}"}, HTTPStatus.INTERNAL_SERVER_ERROR)
        if isinstance(result, bytes):
            kind = "image/png" if self.path == "/api/png" else "application/zip"
            return self.reply(HTTPStatus.OK, result, kind)
        self.reply_json(result)

    def read_json(self):
        """The request body as JSON: a bounded size, standard JSON only (no NaN or Infinity)."""
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            raise BadRequest(f"Content-Length must be a whole number of bytes, not {length!r}")
        limit = MAX_PHOTO_BODY if self.path == "/api/project" else MAX_BODY
        if int(length) > limit:
            self.drain(int(length))
            what = "photo" if self.path == "/api/project" else "request"
            raise BadRequest(
                f"the {what} is {int(length) / 1e6:.1f} MB; at most {limit / 1e6:.1f} MB are accepted"
            )
        return json.loads(self.rfile.read(int(length)) or b"{}", parse_constant=refuse_constant)

    def drain(self, length: int) -> None:
        """Read a refused body away, so the browser reads the answer instead of a reset connection."""
        if length > MAX_DRAIN:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            length = length - len(chunk) if chunk else 0

    def reply_json(self, data: dict, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.reply(status, json.dumps(data, allow_nan=False).encode(), "application/json")

    def reply(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        pass  # one line per request would bury the startup line


def serve(args: dict) -> ThreadingHTTPServer:
    """The server, bound and ready (the checkpoint is read first, so a bad path fails before it)."""
    args = {**arguments("studio", []), **args}  # conf/studio.yaml fills what a caller leaves out
    if not isinstance(args["port"], int) or not 0 <= args["port"] <= 65535:
        raise ConfigError(f"port={args['port']!r}: must be a whole number from 0 to 65535")
    if not isinstance(args["search_steps"], int) or not 1 <= args["search_steps"] <= MAX_SEARCH_STEPS:
        raise ConfigError(
            f"search_steps={args['search_steps']!r}: must be a whole number from 1 to {MAX_SEARCH_STEPS}"
        )
    studio = Studio(args["ckpt_path"], use_ema=bool(args["use_ema"]), search_steps=args["search_steps"])
    if args["build_encoder"]:
        build_encoder(studio)
    handler = type("StudioHandler", (Handler,), {"studio": studio})
    try:
        return ThreadingHTTPServer((args["host"], args["port"]), handler)
    except OSError as err:
        reason = f"port={args['port']}: cannot listen there ({err.strerror})"
        raise ConfigError(f"{reason}; pass another port=...") from None


def build_encoder(studio: Studio) -> None:
    """Train the self-supervised encoder now if none is cached, and index the training images: at start-up,
    where a minute of training is expected, never inside a request."""
    try:
        index = studio.neighbours.ready(train=True)
    except Unavailable as err:
        raise ConfigError(f"build_encoder=true: {err}") from None
    print(f"Nearest training images: {len(index.features)} indexed in {index.seconds:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    server = run_tool("studio", __doc__, serve, argv)
    host, port = server.server_address[:2]
    studio = server.RequestHandlerClass.studio
    print(f"Studio for {studio.ckpt_path} at http://{host}:{port} (Ctrl+C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
