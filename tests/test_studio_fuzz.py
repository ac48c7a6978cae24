"""Every bad request to the studio is a 4xx with one sentence, never a 500, a hang or a dropped connection
(issue 38): crafted images (bombs, huge text chunks) refused from their header, bodies parsed with limits,
non-finite and out-of-range numbers refused, a busy studio says so, and decoding a photo never holds up a
page. Then the fuzz: thousands of random and mutated requests to every endpoint (longer in
benchmarks/studio_fuzz.py)."""

import base64
import io
import json
import random
import shutil
import socket
import struct
import threading
import time
import zlib

import pytest
from PIL import Image

import gan.studio.app as app
import gan.studio.server as server_module
from tests.test_studio import running, send


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(
    width: int, height: int, depth: int = 8, colour: int = 0, rows: int | None = None, extra=b""
) -> bytes:
    """A PNG whose header says width x height, its pixels all zeros (zlib-streamed: a bomb stays small)."""
    bands = {0: 1, 2: 3, 6: 4}[colour]
    row, z = b"\0" * (1 + (width * bands * depth + 7) // 8), zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height if rows is None else rows)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def text_bomb(megabytes: int) -> bytes:
    z = zlib.compressobj(9)
    text = b"".join(z.compress(b"\0" * (1 << 20)) for _ in range(megabytes)) + z.flush()
    return png(32, 32, extra=chunk(b"zTXt", b"comment\0\0" + text))


def upload(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def photo_png(size: int = 40) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), "white").save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def server(studio_ckpt, tmp_path_factory):
    ckpt = shutil.copy(studio_ckpt, tmp_path_factory.mktemp("fuzz") / "last.ckpt")
    with running(ckpt, search_steps=1) as server:
        yield server


@pytest.mark.parametrize(
    ("photo", "sentence"),
    [
        (lambda: png(20000, 20000, depth=1), "the photo claims over 178 MP; at most 40 MP"),  # 49 KB
        (lambda: png(60000, 60000, rows=1), "the photo claims over 178 MP"),
        (lambda: png(12000, 12000, depth=1), "the photo is 12000x12000 (144 MP); at most 40 MP"),
        (lambda: png(5600, 5600, colour=6, rows=1), "would take 125 MB decoded (RGBA); at most 120 MB"),
        (lambda: text_bomb(64), "the image carries more text than an image needs"),  # 64 KB, 64 MB inflated
        (lambda: png(64, 64)[:60], "could not be decoded"),
        (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n", "not an image the studio can read"),
    ],
)
def test_image_bombs_and_text_chunks_are_refused_from_the_header(server, photo, sentence):
    started = time.perf_counter()
    status, answer = send(server, "/api/project", {"photo": upload(photo())})
    assert (status, sentence in answer["error"]) == (400, True), answer
    assert time.perf_counter() - started < 5  # nothing was decoded


def design(server) -> dict:
    return send(server, "/api/page", {"seed": 1, "count": 1})[1]["designs"][0]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "sentence"),
    [
        ("/api/page", b"[" * 200_000, {}, 400, "nested too deeply"),
        ("/api/page", b'{"seed": ' + b"7" * 5000 + b', "count": 1}', {}, 400, "a number of 5000 digits"),
        ("/api/page", b'{"seed": 1e400, "count": 1}', {}, 400, "1e400 is too large a number"),
        ("/api/page", b'{"seed": NaN, "count": 1}', {}, 400, "NaN is not a number the studio accepts"),
        ("/api/page", b'{"seed": "\xb2", "count": 1}', {}, 400, "not UTF-8"),
        ("/api/page", {"seed": "\u00b2", "count": 1}, {}, 400, "seed must be a whole number"),
        ("/api/page", {"seed": "9" * 5000, "count": 1}, {}, 400, "seed must be a whole number"),
        ("/api/page", {"seed": 1, "count": 1, "psi": "1e999"}, {}, 400, "psi must be a number from 0 to 1"),
        ("/api/page", b"{}", {"Content-Length": "\u00b2".encode().decode("latin-1")}, 400, "Content-Length"),
        ("/api/page", b"{}", {"Content-Length": "-2"}, 400, "Content-Length must be a whole number"),
        ("/api/page", b"{}", {"Transfer-Encoding": "chunked"}, 411, "Content-Length, not in chunks"),
        ("/api/page", b" " * 4_000_001, {}, 413, "at most 4.0 MB are accepted"),
        ("/api/page", b"[1, 2]", {}, 400, "the request must be a JSON object"),
        ("/api/nowhere", b"{}", {}, 404, "no action at /api/nowhere"),
        ("/api/render", {"designs": [{"z": [1e39] * 100}]}, {}, 400, "numbers from -1000 to 1000"),
        ("/api/png", {"design": {"z": [1e39] * 100}}, {}, 400, "numbers from -1000 to 1000"),
        ("/api/png", "DESIGN", {"scale": 3}, 400, "a PNG is downloaded at 1x or 4x"),
    ],
)
def test_bad_bodies_get_a_4xx_sentence(server, path, body, headers, status, sentence):
    if body == "DESIGN":
        body, headers = {"design": design(server), **headers}, {}
    answer = send(server, path, body, headers)
    assert answer[0] == status and sentence in answer[1]["error"], answer


def test_other_methods_and_a_body_cut_short(server, monkeypatch):
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"):
        status, body = send(server, "/api/page", b"{}", method=method)
        assert status == 405, (method, body)
    monkeypatch.setattr(server.RequestHandlerClass, "timeout", 1)
    with socket.create_connection(server.server_address[:2], timeout=30) as raw:
        raw.sendall(
            b"POST /api/page HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"X-Studio-Token: {server.token}\r\nContent-Length: 100\r\n\r\n{{".encode()
        )
        answer = b"".join(iter(lambda: raw.recv(4096), b"")).decode()  # until the studio closes it
    assert answer.startswith("HTTP/1.0 408") and "did not arrive" in answer


def test_a_photo_decodes_beside_the_generator_and_a_full_queue_says_busy(server, monkeypatch):
    reading, release, real = threading.Event(), threading.Event(), app.decode_upload

    def slow(photo):  # a 40 MP photo, as long as the test wants it to take
        reading.set()
        release.wait(60)
        return real(photo)

    monkeypatch.setattr(app, "decode_upload", slow)
    monkeypatch.setattr(app, "DECODE_WAIT", 0.5)
    answers = {}
    body = {"photo": upload(photo_png())}
    first = threading.Thread(target=lambda: answers.update(first=send(server, "/api/project", body)))
    first.start()
    assert reading.wait(30)
    started = time.perf_counter()
    assert send(server, "/api/page", {"seed": 3, "count": 4})[0] == 200  # not behind the photo
    page_seconds = time.perf_counter() - started
    second = threading.Thread(target=lambda: answers.update(second=send(server, "/api/project", body)))
    second.start()
    time.sleep(0.1)
    status, answer = send(server, "/api/project", body)  # two photos in flight already
    assert status == 429 and "busy, try again in a few seconds" in answer["error"]
    second.join(30)
    assert answers["second"][0] == 429 and "busy reading another photo" in answers["second"][1]["error"]
    release.set()
    first.join(60)
    assert answers["first"][0] == 200 and answers["first"][1]["state"] == "running"
    assert page_seconds < 5
    monkeypatch.setattr(server_module, "WAIT_SECONDS", 0.2)
    with server.RequestHandlerClass.studio.lock:  # someone else's long request holds the generator
        status, answer = send(server, "/api/page", {"seed": 3, "count": 4})
    assert status == 429 and answer["error"] == "the studio is busy, try again in a few seconds"


def test_a_second_photo_never_turns_the_first_search_into_an_error(server):
    body = {"photo": upload(photo_png()), "steps": 200}
    first = send(server, "/api/project", body)[1]
    second = send(server, "/api/project", body)[1]
    status, old = send(server, "/api/project/status", {"search": first["search"]})
    assert status == 200 and old["replaced"] is True and old["search"] == first["search"]
    send(server, "/api/project/cancel", {"search": second["search"]})
    end = time.time() + 60
    while old["state"] == "running" and time.time() < end:
        time.sleep(0.05)
        old = send(server, "/api/project/status", {"search": first["search"]})[1]
    assert old["state"] == "cancelled"


# ---- the fuzz --------------------------------------------------------------------------------------------

ODD = [None, True, False, -1, 0, 1, 2, 64, 65, 1e308, -1e308, 2**63, 0.5, "", "x", "\u00b2", "1e999", "-0"]
ODD += [[], {}, [[]], "9" * 30, "\x00", "\u202e", [0.0] * 100, {"z": None}, "A" * 2000]


def bodies(server) -> dict:
    """A valid body for every POST endpoint, the seeds the fuzz mutates."""
    d = design(server)
    photo = upload(photo_png(24))
    return {
        "/api/page": {"seed": 1, "count": 2, "psi": 0.7, "label": 1},
        "/api/variations": {"design": d, "strength": 0.3, "seed": 2, "count": 2},
        "/api/interpolate": {"a": d, "b": {**d, "z": [-v for v in d["z"]]}, "steps": 3},
        "/api/render": {"designs": [d]},
        "/api/directions": {},
        "/api/name": {"direction": 2, "name": "toe"},
        "/api/strips": {"design": {**d, "steps": [{"direction": 0, "sigma": 1}]}, "directions": [0]},
        "/api/nearest": {"design": d},
        "/api/project": {"photo": photo, "steps": 1},
        "/api/project/status": {"search": 1},
        "/api/project/cancel": {"search": 1},
        "/api/png": {"design": d, "scale": 4},
        "/api/zip": {"designs": [{**d, "name": "photo 1"}]},
    }


def mutate(value, rng: random.Random, depth: int = 0):
    """The value with one random part replaced, dropped or garbled."""
    if isinstance(value, dict) and value and depth < 4 and rng.random() < 0.8:
        key = rng.choice(list(value))
        out = dict(value)
        roll = rng.random()
        if roll < 0.15:
            del out[key]
        elif roll < 0.25:
            out[rng.choice(["z", "steps", "psi", "label", "image", "name", "extra"])] = rng.choice(ODD)
        else:
            out[key] = mutate(value[key], rng, depth + 1)
        return out
    if isinstance(value, list) and value and depth < 4 and rng.random() < 0.7:
        out = list(value)
        i = rng.randrange(len(out))
        out[i] = mutate(out[i], rng, depth + 1) if rng.random() < 0.8 else rng.choice(ODD)
        return out if rng.random() < 0.9 else out * rng.choice([0, 2, 70])
    if isinstance(value, int | float) and not isinstance(value, bool) and rng.random() < 0.5:
        return value * rng.choice([-1, 10, 1e6, 1e40, 0.5]) + rng.choice([0, 1, -1])
    return rng.choice(ODD)


def garble(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    roll = rng.random()
    if roll < 0.3:
        return data[:i]
    if roll < 0.6:
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :]
    return data[:i] + rng.choice([b"[", b"{", b'"', b"\\u", b"1e999", b"\xff", b"NaN", b",,"]) + data[i:]


def one_request(server, seeds: dict, rng: random.Random):
    path = rng.choice(list(seeds))
    body, headers, method = json.dumps(mutate(seeds[path], rng)).encode(), {}, "POST"
    roll = rng.random()
    if roll < 0.25:
        body = garble(body, rng)
    elif roll < 0.3:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    elif roll < 0.35:
        headers = {
            rng.choice(
                ["Content-Type", "Content-Length", "Origin", "Host", "X-Studio-Token", "Cookie"]
            ): rng.choice(
                [
                    "",
                    "text/plain",
                    "application/json; charset=utf-8",
                    "-1",
                    "99999999",
                    "1x",
                    "null",
                    "a=b; ;",
                ]
            )
        }
    elif roll < 0.37:
        method, path = (
            rng.choice(["GET", "HEAD", "PUT"]),
            rng.choice([path, "/", "/api/info", "/../../etc", "/%00"]),
        )
    return path, send(server, path, body, headers, method=method, timeout=20)


def fuzz(server, count: int, seed: int = 0) -> dict:
    """`count` random and mutated requests; fails on a 5xx, a refusal that is not a sentence, or no answer
    within 20 s. Returns how many got each status and the slowest answer's seconds."""
    rng, seeds, codes, slowest = random.Random(seed), bodies(server), {}, 0.0
    for _ in range(count):
        started = time.perf_counter()
        path, (status, answer) = one_request(server, seeds, rng)
        slowest = max(slowest, time.perf_counter() - started)
        assert status < 500, (path, status, answer)
        if status >= 400 and isinstance(answer, dict):
            assert isinstance(answer["error"], str) and 0 < len(answer["error"]) < 500, answer
        codes[status] = codes.get(status, 0) + 1
    latest = max(server.RequestHandlerClass.studio.searches, default=1)
    send(server, "/api/project/cancel", {"search": latest})
    return {"codes": dict(sorted(codes.items())), "slowest": slowest}


@pytest.mark.slow  # trains or searches for seconds: the full suite, not the fast tier
def test_fuzz_every_endpoint_without_a_5xx_or_a_hang(server):  # ~7 s
    codes = fuzz(server, 1000)["codes"]
    assert codes.get(200, 0) > 100 and codes.get(400, 0) > 500, codes  # both paths were exercised
