"""The studio answers only its own page (issue 38): a per-launch token, the Host and Origin checked, JSON
only as `Content-Type: application/json`. Each refused request is a 403/415 with one sentence and leaves
every file beside the checkpoint as it was; the same request from the page itself goes through (so the
checks can fail)."""

import http.client
import shutil
from pathlib import Path

import pytest

from tests.test_studio import running, send

ATTACK = {"direction": 0, "name": "renamed by another site"}


def files(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def server(studio_ckpt, tmp_path_factory):
    ckpt = shutil.copy(studio_ckpt, tmp_path_factory.mktemp("security") / "last.ckpt")
    with running(ckpt) as server:
        assert send(server, "/api/directions", {})[0] == 200  # the directions file exists, to be attacked
        yield server


@pytest.mark.parametrize(
    ("headers", "status", "sentence"),
    [
        (  # the curl: another site's page, posting text/plain (no CORS preflight), no token
            {"Content-Type": "text/plain", "Origin": "http://evil.example", "X-Studio-Token": None},
            403,
            "requests from other sites (http://evil.example) are refused",
        ),
        ({"Origin": "http://evil.example"}, 403, "requests from other sites"),  # even with the token
        ({"Origin": "null"}, 403, "requests from other sites (null) are refused"),
        ({"X-Studio-Token": None}, 403, "open the address the studio printed when it started"),
        ({"X-Studio-Token": "guessed"}, 403, "open the address the studio printed"),
        ({"X-Studio-Token": None, "Cookie": "gan-studio-{port}=guessed"}, 403, "open the address"),
        ({"Host": "evil.example"}, 403, "answers only to its own address, not Host 'evil.example'"),
        ({"Host": "evil.example:{port}"}, 403, "answers only to its own address, not Host 'evil.example:"),
        ({"Host": "127.0.0.1.evil.example"}, 403, "answers only to its own address"),
        ({"Content-Type": "text/plain"}, 415, "Content-Type: application/json"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "Content-Type: application/json"),
    ],
)
def test_requests_not_from_the_page_are_refused_and_change_nothing(server, headers, status, sentence):
    folder = Path(server.RequestHandlerClass.studio.ckpt_path).parent
    before, port = files(folder), server.server_address[1]
    headers = {k: v if v is None else v.replace("{port}", str(port)) for k, v in headers.items()}
    answer = send(server, "/api/name", ATTACK, headers)
    assert answer[0] == status and sentence in answer[1]["error"], answer
    assert files(folder) == before
    assert send(server, "/api/directions", {})[1]["directions"][0]["name"] == ""


def test_the_page_itself_renames_with_its_cookie_and_origin(server):
    host, port = server.server_address[:2]
    status, page = send(server, "/", method="GET", headers={"X-Studio-Token": None})
    assert status == 403 and b"open the address the studio printed" in page
    assert send(server, "/?token=guessed", method="GET", headers={"X-Studio-Token": None})[0] == 403
    assert send(server, "/api/info", method="GET", headers={"Host": f"rebound.example:{port}"})[0] == 403
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request("GET", f"/?token={server.token}")
    response = connection.getresponse()
    assert response.status == 200 and b"gan studio" in response.read()
    cookie = response.getheader("Set-Cookie")
    assert cookie == f"gan-studio-{port}={server.token}; Path=/; HttpOnly; SameSite=Strict"
    connection.close()
    folder = Path(server.RequestHandlerClass.studio.ckpt_path).parent
    before = files(folder)
    as_the_page = {"X-Studio-Token": None, "Cookie": cookie.split(";")[0], "Origin": f"http://{host}:{port}"}
    status, answer = send(server, "/api/name", {"direction": 1, "name": "toe"}, as_the_page)
    assert status == 200 and answer["directions"][1]["name"] == "toe"
    assert files(folder) != before  # the name is saved in the directions file
    for name in ("localhost", "[::1]"):
        headers = {**as_the_page, "Host": f"{name}:{port}", "Origin": f"http://{name}:{port}"}
        assert send(server, "/api/info", method="GET", headers=headers)[0] == 200
