"""Explore a trained generator's designs in the browser: the studio's web server (one HTML page and a small
JSON API, on Python's standard library).

    python -m gan.studio ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt [port=7860] [use_ema=true]
        [search_steps=60]    # optimisation steps of a photo search (each also stops after 30 s)
        [build_encoder=true] # train the encoder of "Nearest training images" at start-up if none is cached
        [sampler=plain]      # how a page's designs are drawn (conf/sampler/); the variety slider is its psi

Then open the address it prints, http://127.0.0.1:7860/?token=<token>. It binds to 127.0.0.1 (this machine
only) unless host= says otherwise.

Only the studio's own page can use it, as Jupyter does it: every launch draws a token, the printed address
carries it and the page stores it as a cookie of this port; a request without it, one naming another `Host`
than an IP address, localhost or host= (DNS rebinding), one sent by another site's page (`Origin`), and a
POST whose body is not `Content-Type: application/json` are refused with 403/415 before anything is read.
Every refused request is a 4xx with one sentence, `{"error": ...}`, never a 500 or a dropped connection.
"""

import contextlib
import hmac
import ipaddress
import json
import re
import secrets
import threading
import traceback
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from gan.cli import arguments, run_tool
from gan.errors import ConfigError
from gan.samplers import build
from gan.studio.app import BadRequest, Busy, Studio
from gan.studio.nearest import Unavailable
from gan.studio.photo import MAX_PHOTO_BYTES, MAX_SEARCH_STEPS

MAX_BODY = 4_000_000  # bytes: 256 designs of 512-d latents fit many times over
MAX_PHOTO_BODY = MAX_PHOTO_BYTES * 4 // 3 + 1000  # a photo, base64-encoded in JSON
MAX_DRAIN = 64_000_000  # a larger body is read and dropped (so the page gets the sentence), up to this
MAX_DIGITS = 20  # a whole number in a request: a seed is at most 10 digits
UPLOADS = 2  # photo requests in flight (reading, decoding); one more is told to try again
WAITING = 16  # requests queued for the generator; one more is told to try again
WAIT_SECONDS = 20.0  # the longest a request waits for the generator before it is told to try again
BUSY = "the studio is busy, try again in a few seconds"
UNLOCKED = {"/api/project", "/api/project/status", "/api/project/cancel"}  # they lock G themselves, or never
PAGE = Path(__file__).with_name("page.html")


class Refused(Exception):
    """A request answered with `status` and one sentence, before or instead of its action."""

    def __init__(self, status: HTTPStatus, sentence: str):
        super().__init__(sentence)
        self.status = status


def refuse_constant(name: str):
    raise BadRequest(f"{name} is not a number the studio accepts (standard JSON numbers only)")


def bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise BadRequest(
            f"a number of {len(text)} digits is not one the studio accepts (at most {MAX_DIGITS})"
        )
    return int(text)


def finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BadRequest(f"{text[:20]} is too large a number for the studio")
    return value


def parse_json(body: bytes):
    """The body as JSON: standard numbers only (no NaN, Infinity, or numbers too long to mean anything)."""
    try:
        return json.loads(
            body or b"{}", parse_constant=refuse_constant, parse_int=bounded_int, parse_float=finite_float
        )
    except RecursionError:
        raise BadRequest("the request is nested too deeply to be one the page sends") from None
    except UnicodeDecodeError:
        raise BadRequest("the request is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise BadRequest(f"the request is not JSON ({err.msg} at character {err.pos})") from None


class Handler(BaseHTTPRequestHandler):
    studio: Studio  # its lock: one generator, one request (or photo search step) at a time
    token: str  # this launch's; in the printed address, then a cookie of this port
    host_names: frozenset  # names besides IP addresses and localhost the Host header may carry
    uploads: threading.BoundedSemaphore
    waiting: threading.BoundedSemaphore
    timeout = 30  # seconds a silent client may hold its connection (a body shorter than its Content-Length)

    # ---- who may ask --------------------------------------------------------------------------------

    @property
    def cookie_name(self) -> str:
        return f"gan-studio-{self.server.server_address[1]}"  # cookies ignore ports: one per studio

    def check_caller(self, query_token: str | None = None) -> None:
        """Refuse other hosts' names (DNS rebinding), other sites' pages and callers without the token."""
        host = self.headers.get("Host", "")
        try:
            name = urlsplit(f"//{host}").hostname
        except ValueError:
            name = None
        if not host or name is None or not self.known_host(name):
            raise Refused(
                HTTPStatus.FORBIDDEN, f"the studio answers only to its own address, not Host {host[:80]!r}"
            )
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() != f"http://{host}".lower():
            raise Refused(HTTPStatus.FORBIDDEN, f"requests from other sites ({origin[:80]}) are refused")
        given = query_token or self.headers.get("X-Studio-Token") or self.cookie_token()
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            raise Refused(
                HTTPStatus.FORBIDDEN,
                "open the address the studio printed when it started (it ends in ?token=...)",
            )

    def known_host(self, name: str) -> bool:
        if name == "localhost" or name in self.host_names:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def cookie_token(self) -> str | None:
        try:
            morsel = SimpleCookie(self.headers.get("Cookie", "")).get(self.cookie_name)
        except CookieError:
            return None
        return morsel.value if morsel else None

    # ---- what it may ask ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query_token = (parse_qs(url.query).get("token") or [None])[0]
        try:
            self.check_caller(query_token)
        except Refused as err:
            if url.path.startswith("/api/"):
                return self.reply_json({"error": str(err)}, err.status)
            return self.reply(err.status, f"<p>{err}</p>".encode(), "text/html; charset=utf-8")
        if url.path in ("/", "/index.html"):
            cookie = f"{self.cookie_name}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            self.reply(HTTPStatus.OK, PAGE.read_bytes(), "text/html; charset=utf-8", {"Set-Cookie": cookie})
        elif url.path == "/api/info":
            self.reply_json(self.studio.info())
        else:
            self.reply_json({"error": f"no page at {url.path[:80]}"}, HTTPStatus.NOT_FOUND)

    def routes(self) -> dict:
        studio = self.studio
        return {
            "/api/page": lambda r: studio.page(
                r.get("seed"), r.get("count"), r.get("label"), r.get("image"), r.get("psi")
            ),
            "/api/variations": lambda r: studio.variations(
                r.get("design"), r.get("strength"), r.get("seed"), r.get("count")
            ),
            "/api/interpolate": lambda r: studio.interpolate(r.get("a"), r.get("b"), r.get("steps")),
            "/api/render": lambda r: studio.render(r.get("designs")),
            "/api/directions": lambda r: studio.directions(),
            "/api/name": lambda r: studio.name(r.get("direction"), r.get("name")),
            "/api/strips": lambda r: studio.strips(r.get("design"), r.get("directions")),
            "/api/nearest": lambda r: studio.nearest(r.get("design")),
            "/api/project": lambda r: studio.project(r.get("photo"), r.get("steps")),
            "/api/project/status": lambda r: studio.search_status(r.get("search")),
            "/api/project/cancel": lambda r: studio.cancel(r.get("search")),
            "/api/png": lambda r: studio.png(r.get("design"), r.get("scale")),
            "/api/zip": lambda r: studio.zip(r.get("designs")),
        }

    def do_POST(self) -> None:
        try:
            result = self.answer()
        except Refused as err:
            self.drain_unread()
            retry = {"Retry-After": "3"} if err.status == HTTPStatus.TOO_MANY_REQUESTS else {}
            return self.reply_json({"error": str(err)}, err.status, retry)
        except BadRequest as err:
            return self.reply_json({"error": str(err)}, HTTPStatus.BAD_REQUEST)
        except Exception as err:  # a bug, not the user's input: say so on the page, keep serving
            traceback.print_exc()
            return self.reply_json({"error": f"internal error: {err!r}"}, HTTPStatus.INTERNAL_SERVER_ERROR)
        if isinstance(result, bytes):
            kind = "image/png" if self.path == "/api/png" else "application/zip"
            return self.reply(HTTPStatus.OK, result, kind)
        self.reply_json(result)

    def answer(self):
        """The action's result, or Refused/BadRequest: the caller, the route, the body, then the action."""
        self.close_connection = True  # one request a connection: a refused body is never read as the next
        self.check_caller()
        routes = self.routes()
        if self.path not in routes:
            raise Refused(HTTPStatus.NOT_FOUND, f"no action at {self.path[:80]}")
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise Refused(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "the studio takes requests as Content-Type: application/json",
            )
        if self.path != "/api/project":
            return self.act(routes[self.path], self.read_json())
        if not self.uploads.acquire(blocking=False):
            raise Refused(HTTPStatus.TOO_MANY_REQUESTS, f"{BUSY} (another photo is being read)")
        try:
            return self.act(routes[self.path], self.read_json())
        finally:
            self.uploads.release()

    def act(self, action, request):
        if not isinstance(request, dict):
            raise BadRequest("the request must be a JSON object")
        try:
            if self.path in UNLOCKED:
                return action(request)
            with self.generator_turn():
                return action(request)
        except Busy as err:
            raise Refused(HTTPStatus.TOO_MANY_REQUESTS, str(err)) from None

    @contextlib.contextmanager
    def generator_turn(self):
        """The generator's lock, for at most WAITING queued requests and WAIT_SECONDS each: a request never
        waits without end behind another's work."""
        if not self.waiting.acquire(blocking=False):
            raise Busy(BUSY)
        try:
            if not self.studio.lock.acquire(timeout=WAIT_SECONDS):
                raise Busy(BUSY)
        finally:
            self.waiting.release()
        try:
            yield
        finally:
            self.studio.lock.release()

    def read_json(self):
        """The request body as JSON: a bounded size, standard JSON only (no NaN or Infinity)."""
        if self.headers.get("Transfer-Encoding"):
            raise Refused(HTTPStatus.LENGTH_REQUIRED, "send the request with a Content-Length, not in chunks")
        length = self.headers.get("Content-Length") or "0"
        if not re.fullmatch(r"[0-9]{1,15}", length):
            raise BadRequest(f"Content-Length must be a whole number of bytes, not {length[:20]!r}")
        length, limit = int(length), MAX_PHOTO_BODY if self.path == "/api/project" else MAX_BODY
        if length > limit:
            what = "photo" if self.path == "/api/project" else "request"
            raise Refused(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the {what} is {length / 1e6:.1f} MB; at most {limit / 1e6:.1f} MB are accepted",
            )
        self.unread = 0
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            raise Refused(HTTPStatus.REQUEST_TIMEOUT, "the request's body did not arrive in 30 s") from None
        if len(body) < length:
            raise BadRequest(
                f"the request's body has {len(body)} of the {length} bytes its Content-Length says"
            )
        return parse_json(body)

    def drain_unread(self) -> None:
        """A refused request's body, read away (the browser may still be sending a photo)."""
        length = getattr(self, "unread", None)
        if length is None:
            text = self.headers.get("Content-Length") or "0"
            length = int(text) if re.fullmatch(r"[0-9]{1,15}", text) else 0
        self.unread = 0
        self.drain(length)

    def drain(self, length: int) -> None:
        """Read a refused body away, so the browser reads the answer instead of a reset connection."""
        if length > MAX_DRAIN:
            return
        try:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                length = length - len(chunk) if chunk else 0
        except TimeoutError:
            pass

    def send_error(self, code, message=None, explain=None) -> None:
        """The standard library's own refusals (unknown method, bad request line) stay 4xx sentences."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code, message = (
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"the studio answers GET and POST, not {self.command!r}",
            )
        super().send_error(code, message, explain)

    def reply_json(self, data: dict, status: HTTPStatus = HTTPStatus.OK, headers: dict | None = None) -> None:
        try:
            body = json.dumps(data, allow_nan=False).encode()
        except ValueError as err:  # a bug (a non-finite number escaped the checks): still an answer
            traceback.print_exc()
            status, body = (
                HTTPStatus.INTERNAL_SERVER_ERROR,
                json.dumps({"error": f"internal error: {err}"}).encode(),
            )
        self.reply(status, body, "application/json", headers)

    def reply(self, status: HTTPStatus, body: bytes, kind: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")  # no other site frames the page to click through it
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        pass  # one line per request would bury the startup line


class StudioServer(ThreadingHTTPServer):
    daemon_threads = True

    @property
    def url(self) -> str:
        """The address to open: the page, with this launch's token."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/?token={self.RequestHandlerClass.token}"

    @property
    def token(self) -> str:
        return self.RequestHandlerClass.token


def serve(args: dict) -> StudioServer:
    """The server, bound and ready (the checkpoint is read first, so a bad path fails before it)."""
    args = {**arguments("studio", []), **args}  # conf/studio.yaml fills what a caller leaves out
    if not isinstance(args["port"], int) or not 0 <= args["port"] <= 65535:
        raise ConfigError(f"port={args['port']!r}: must be a whole number from 0 to 65535")
    if not isinstance(args["search_steps"], int) or not 1 <= args["search_steps"] <= MAX_SEARCH_STEPS:
        raise ConfigError(
            f"search_steps={args['search_steps']!r}: must be a whole number from 1 to {MAX_SEARCH_STEPS}"
        )
    sampler = build(args["sampler"])
    studio = Studio(args["ckpt_path"], bool(args["use_ema"]), args["search_steps"], sampler)
    if args["build_encoder"]:
        build_encoder(studio)
    handler = type(
        "StudioHandler",
        (Handler,),
        {
            "studio": studio,
            "token": secrets.token_urlsafe(24),
            "host_names": frozenset({str(args["host"]).lower()}),
            "uploads": threading.BoundedSemaphore(UPLOADS),
            "waiting": threading.BoundedSemaphore(WAITING),
        },
    )
    try:
        return StudioServer((args["host"], args["port"]), handler)
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
    studio = server.RequestHandlerClass.studio
    print(f"Studio for {studio.ckpt_path} at {server.url} (Ctrl+C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
