"""MONAI Label's own role-based access, on: tokens signed by a key this test makes (served as a
Keycloak realm's public key on 127.0.0.1); annotators are refused the admin-only routes."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from apps.radiotherapy.launch import APP_DIR, start_server
from lib.phantom.datastore import write_datastore

pytestmark = pytest.mark.slow

ADMIN = ["monailabel-admin", "monailabel-reviewer", "monailabel-annotator", "monailabel-user"]
ANNOTATOR = ["monailabel-annotator", "monailabel-user"]


def _realm(public_key: str) -> ThreadingHTTPServer:
    """A realm endpoint on 127.0.0.1 that answers what Keycloak's does: ``{"public_key": ...}``."""

    class Realm(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = json.dumps({"realm": "test", "public_key": public_key}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Realm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _token(key, roles: list[str], user: str) -> dict[str, str]:
    claims = {"preferred_username": user, "realm_access": {"roles": roles}, "exp": int(time.time()) + 3600}
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm='RS256')}"}


@pytest.fixture(scope="module")
def auth(tmp_path_factory):
    root = tmp_path_factory.mktemp("auth")
    write_datastore(root / "datastore", cases=2, first_seed=0, labelled=1)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    realm = _realm(base64.b64encode(der).decode())
    env = {"MONAI_LABEL_AUTH_ENABLE": "true",
           "MONAI_LABEL_AUTH_REALM_URI": f"http://127.0.0.1:{realm.server_port}/realms/test"}
    try:
        with start_server(APP_DIR, root / "datastore", {"models": "gaussian_click", "model_dir": root / "model"},
                          root / "server.log", env_extra=env) as server:
            yield server.url, key, root / "datastore"
    finally:
        realm.shutdown()


@pytest.mark.parametrize("method, target", [
    ("DELETE", "/datastore/image?id=phantom_0000"),
    ("DELETE", "/datastore/label?id=phantom_0000&tag=final"),
    ("GET", "/datastore/dataset"),
    ("GET", "/logs/?text=true"),
    ("POST", "/train/gaussian_click"),
    ("PUT", "/model/gaussian_click_2d"),
    ("POST", "/reload"),
])
def test_admin_routes_are_refused_to_annotators(auth, method, target):
    url, key, studies = auth
    answer = requests.request(method, url + target, headers=_token(key, ANNOTATOR, "ann"), timeout=60)
    assert answer.status_code == 403 and "monailabel-admin" in answer.json()["detail"], answer.text
    assert (studies / "phantom_0000.nii.gz").exists() and (studies / "labels" / "final" / "phantom_0000.nii.gz").exists()


def test_admins_pass_and_annotators_work(auth):
    url, key, _ = auth
    admin, annotator = _token(key, ADMIN, "boss"), _token(key, ANNOTATOR, "ann")
    gone = requests.delete(url + "/datastore/image?id=nope", headers=admin, timeout=60)
    assert gone.status_code == 404 and "unknown image id" in gone.json()["detail"]  # past the role check
    assert requests.get(url + "/logs/?text=true&lines=5", headers=admin, timeout=60).status_code == 200
    assert requests.get(url + "/info/", headers=annotator, timeout=60).json()["models"]
    click = requests.post(url + "/infer/gaussian_click_2d?image=phantom_0001&output=json", headers=annotator,
                          data={"params": json.dumps({"foreground": [[50, 50, 20]]})}, timeout=120)
    assert click.status_code == 200, click.text


def test_no_token_or_a_forged_one_is_401(auth):
    url, _, _ = auth
    forged = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert requests.get(url + "/info/", timeout=60).status_code == 401
    answer = requests.get(url + "/info/", headers=_token(forged, ADMIN, "mallory"), timeout=60)
    assert answer.status_code == 401
