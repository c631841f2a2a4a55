"""Media per session, over real HTTP: two `gradio_client` sessions on two projects, and a switched project.

A session fetches the media of the project it has open and nothing else; opening another project stops the
old one's links for that session; no project file is reachable by its own path.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=20) as r:
        return r.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from flowdrafter.core.examples import copy_example
    from flowdrafter.core.settings import Settings
    from flowdrafter.ui.app import build_app, launch, start_session
    from flowdrafter.ui.services import Services

    root = tmp_path_factory.mktemp("media")
    projects = {name: copy_example("kitten-garden", root / name).root for name in ("one", "two", "three")}
    for name, folder in projects.items():  # different titles, so their clips differ
        doc = json.loads((folder / "storyboard.json").read_text())
        doc["scenes"][0]["title"] = f"scene one of project {name}"
        (folder / "storyboard.json").write_text(json.dumps(doc))
    settings = Settings(data_dir=root / "data", llm="none")
    services = Services(settings)
    demo = build_app(start_session(root / "start", "kitten-garden", settings), services)
    port = free_port()
    launch(demo, host="127.0.0.1", port=port, block=False, quiet=True)
    yield {"url": f"http://127.0.0.1:{port}", "projects": projects}
    demo.close()
    services.cleanup()


def session(server, project: Path):
    from gradio_client import Client

    client = Client(server["url"], verbose=False, download_files=False)
    client.predict(str(project), api_name="/open")
    return client


def preview_url(client) -> str:
    """Render scene s1's animatic in this session and return the link the page would play."""
    return client.predict("s1", "scene", api_name="/preview")["url"]


def pdf_url(client) -> str:
    return client.predict(api_name="/export_pdf")["url"]


def file_url(server, path: Path | str) -> str:
    return f"{server['url']}/gradio_api/file={path}"


def served_path(url: str) -> Path:
    return Path(urllib.parse.unquote(url.split("/gradio_api/file=", 1)[1]))


def token_dir(url: str) -> Path:
    """The session's published folder: <media root>/<token>."""
    path = served_path(url)
    return next(p for p in path.parents if p.parent.name == "media")


def clip_of(project: Path) -> Path:
    index = json.loads((project / "renders" / "animatic" / "index.json").read_text())
    return project / index["s1"]


def test_two_sessions_on_two_projects_each_fetch_only_their_own(server):
    one, two = server["projects"]["one"], server["projects"]["two"]
    a, b = session(server, one), session(server, two)
    url_a, url_b = preview_url(a), preview_url(b)
    assert urllib.parse.urlparse(url_a).hostname == "127.0.0.1"
    assert fetch(url_a) == clip_of(one).read_bytes()
    assert fetch(url_b) == clip_of(two).read_bytes()
    assert clip_of(one).name != clip_of(two).name
    assert fetch(pdf_url(a)).startswith(b"%PDF")

    mine = token_dir(url_a)
    assert two.name not in str(mine) and not served_path(url_a).is_relative_to(one)  # a published copy, not the project file
    rel_two = clip_of(two).relative_to(two).as_posix()
    refused = [
        file_url(server, mine / rel_two),  # the other project's clip under this session's folder: never published there
        file_url(server, mine / "storyboard.json"),
        file_url(server, mine),  # folders are not listed
        file_url(server, mine.parent),
        file_url(server, f"{mine}/../../../{two.name}/{rel_two}"),  # leaving the media folder
    ]
    refused += [file_url(server, p) for p in (clip_of(one), clip_of(two), two / "storyboard.json", two / "assets" / "kitten.png")]
    for url in refused:
        assert status(url) == 403, url


def test_switching_projects_stops_the_old_links_for_that_session_only(server):
    one, two, three = server["projects"]["one"], server["projects"]["two"], server["projects"]["three"]
    a, b = session(server, one), session(server, two)
    old_a, url_b = preview_url(a), preview_url(b)
    assert status(old_a) == 200 and status(url_b) == 200
    a.predict(str(three), api_name="/open")
    assert status(old_a) == 403  # the old project's media are no longer this session's
    new_a = preview_url(a)
    assert fetch(new_a) == clip_of(three).read_bytes()
    assert token_dir(new_a) != token_dir(old_a)
    assert status(url_b) == 200  # the other session keeps its project
    c = session(server, one)  # a session that opens the first project gets its own link to it
    assert fetch(preview_url(c)) == clip_of(one).read_bytes()


def test_only_files_inside_the_open_projects_media_folders_are_published(tmp_path):
    from flowdrafter.core.examples import copy_example
    from flowdrafter.ui.media import Media

    project = copy_example("kitten-garden", tmp_path / "p")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for the browser")
    (project.renders_dir / "escape.png").symlink_to(secret)
    (project.renders_dir / ".lock").write_text("")
    media = Media(tmp_path / "media")
    media.grant("s", project, tmp_path / "scratch")
    kitten = media.publish("s", project.assets_dir / "kitten.png")
    assert kitten is not None and kitten.read_bytes() == (project.assets_dir / "kitten.png").read_bytes()
    assert kitten.is_relative_to(tmp_path / "media")
    for path in (project.renders_dir / "escape.png", project.renders_dir / ".lock", project.storyboard_path, secret,
                 project.root / ".history"):  # fmt: skip
        assert media.publish("s", path) is None, path
    assert media.publish("someone else", project.assets_dir / "kitten.png") is None  # no grant, nothing
    media.grant("s", None, tmp_path / "scratch")  # the session closed its project
    assert not kitten.exists() and media.publish("s", project.assets_dir / "kitten.png") is None
