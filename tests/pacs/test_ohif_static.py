"""The bundled OHIF under /ohif/: every file with its own bytes and content type (not index.html)."""

from __future__ import annotations

import re

import pytest
import requests

from apps.radiotherapy.ohif import OHIF_DIR, SAVE_SCRIPT_URL, bundle_file

pytestmark = pytest.mark.slow  # Orthanc and a MONAI Label server (once per session)

EXPECTED_TYPES = {".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm", ".png": "image/png",
                  ".html": "text/html", ".json": "application/json", ".svg": "image/svg+xml", ".ico": "image/x-icon"}


def test_index_references_exist_and_carry_the_save_button(pacs):
    index = requests.get(f"{pacs.server.url}/ohif/", timeout=30)
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert SAVE_SCRIPT_URL in index.text
    references = set(re.findall(r'(?:src|href)="(/ohif/[^"]+)"', index.text))
    assert len(references) > 10
    missing = []
    for reference in sorted(references):
        response = requests.get(f"{pacs.server.url}{reference}", timeout=30)
        if response.status_code != 200 or response.headers["content-type"].startswith("text/html"):
            missing.append((reference, response.status_code, response.headers.get("content-type")))
    # OHIF's index.html names apple-touch icons the bundle does not ship: those must be 404, not index.html
    assert all(status == 404 for _, status, _ in missing), missing
    script = requests.get(f"{pacs.server.url}{SAVE_SCRIPT_URL}", timeout=30)
    assert script.status_code == 200 and "radiotherapySaveSeg" in script.text


def test_every_bundle_file_is_served_as_itself(pacs):
    files = sorted(p for p in OHIF_DIR.rglob("*") if p.is_file() and p.name != "index.html")
    assert len(files) > 50
    session = requests.Session()
    wrong = []
    for path in files:
        relative = path.relative_to(OHIF_DIR).as_posix()
        response = session.get(f"{pacs.server.url}/ohif/{relative}", timeout=30)
        expected = EXPECTED_TYPES.get(path.suffix)
        if response.status_code != 200 or response.content != path.read_bytes() or (
            expected and not response.headers["content-type"].startswith(expected)
        ):
            wrong.append((relative, response.status_code, response.headers.get("content-type")))
    assert not wrong, wrong[:10]
    assert any("/" in p.relative_to(OHIF_DIR).as_posix() for p in files)  # sub-folders: what 0.8.5 broke


def test_client_routes_get_index_and_missing_files_404(pacs):
    route = requests.get(f"{pacs.server.url}/ohif/monai-label?StudyInstanceUIDs=1.2.3", timeout=30)
    assert route.status_code == 200 and "radiotherapy" in route.text
    missing = requests.get(f"{pacs.server.url}/ohif/assets/no-such-file.js", timeout=30)
    assert missing.status_code == 404 and "no-such-file.js" in missing.text


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "assets/../../ohif.py", "/etc/passwd"])
def test_nothing_outside_the_bundle_is_served(path):
    assert bundle_file(path) is None
