from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx

from app.mocks import cdn
from app.mocks.fakes import FakeServices

pytestmark = pytest.mark.anyio

BASE = "https://cdn.test"
PUBLIC = "http://public.test"


@pytest.fixture
def fakes() -> FakeServices:
    return FakeServices()


@pytest.fixture
async def http(fakes: FakeServices, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    router = respx.Router(assert_all_mocked=True, assert_all_called=False)
    cdn.install(
        router, fakes, BASE, storage_dir=tmp_path / "cdn", public_base_url=PUBLIC
    )
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(router.async_handler)
    ) as client:
        yield client


def stored_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_upload_stores_bytes_and_returns_the_demo_url(
    http: httpx.AsyncClient, fakes: FakeServices, tmp_path: Path
) -> None:
    response = await http.put(f"{BASE}/upload/images/7/1/thumbnail.jpg", content=b"abc")
    assert response.status_code == 201
    assert response.json() == {"url": f"{PUBLIC}/demo/cdn/images/7/1/thumbnail.jpg"}
    assert (tmp_path / "cdn/images/7/1/thumbnail.jpg").read_bytes() == b"abc"
    [call] = fakes.calls_to("cdn")
    assert (call.method, call.status, call.body) == ("PUT", 201, {"bytes": 3})


async def test_cdn_down_answers_503_and_stores_nothing(
    http: httpx.AsyncClient, fakes: FakeServices, tmp_path: Path
) -> None:
    fakes.set_faults(cdn="down")
    response = await http.put(f"{BASE}/upload/images/1/1/original.png", content=b"x")
    assert response.status_code == 503
    assert not (tmp_path / "cdn").exists()


@pytest.mark.parametrize(
    "path",
    [
        "%2e%2e/%2e%2e/escape.txt",
        "images/%2e%2e/%2e%2e/%2e%2e/escape.txt",
        "..%2fescape.txt",
        "images%5c..%5c..%5cescape.txt",
        "%2fetc%2fescape.txt",
        "images//double.txt",
        "images/a%00b.txt",
    ],
)
async def test_upload_refuses_paths_that_could_escape(
    http: httpx.AsyncClient, tmp_path: Path, path: str
) -> None:
    response = await http.put(f"{BASE}/upload/{path}", content=b"x")
    assert response.status_code == 400
    assert stored_files(tmp_path) == []


@pytest.mark.parametrize(
    "path",
    [
        "",
        "..",
        "../x",
        "a/../../x",
        "/etc/passwd",
        "a\\b",
        "a//b",
        "./a",
        "a/\x00",
        ".",
    ],
)
def test_safe_storage_path_rejects(tmp_path: Path, path: str) -> None:
    assert cdn.safe_storage_path(tmp_path, path) is None


def test_safe_storage_path_rejects_symlinks_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    assert cdn.safe_storage_path(root, "link/secret.txt") is None


def test_safe_storage_path_accepts_plain_relative_paths(tmp_path: Path) -> None:
    got = cdn.safe_storage_path(tmp_path, "images/1/2/thumbnail.jpg")
    assert got == tmp_path.resolve() / "images/1/2/thumbnail.jpg"
