"""Hostile and broken requests against the real server: each gets its 4xx with a message, and
nothing outside the datastore, nor anything in it, changes. Plus what real clients send
(the stock Slicer extension's exact label save, the monailabel client) stays accepted.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import time
from pathlib import Path
from urllib.parse import quote, urlencode, urlparse

import nibabel as nib
import numpy as np
import pytest
import requests
import SimpleITK as sitk
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException

from apps.radiotherapy.launch import APP_DIR, start_server
from lib.phantom.datastore import write_datastore
from tests.server.conftest import wait_for

pytestmark = pytest.mark.slow

ORIGIN = "http://ohif.example"
MAX_UPLOAD_MB = 2
BODY_TIMEOUT_S = 2
#: Paths under the test root that the server may change (its log, own folders, the client's).
SERVER_OWNED = ("server.log", "model", "sessions", "client", "tmp", "datastore/.lock", "datastore/datastore_v2.json")


class Env:
    def __init__(self, root: Path, url: str, client) -> None:
        self.root, self.url, self.client = root, url, client
        self.studies, self.files, self.victim = root / "datastore", root.parent / "files", root / "victim"
        self.at_start = set(self._temporary())  # MONAI Label's own logging config, written at start

    def _temporary(self) -> list[Path]:
        return [p for d in (self.root / "tmp", self.root / "model" / "uploads") for p in d.glob("**/*") if p.is_file()]

    def snapshot(self) -> dict[str, str]:
        """SHA-256 of every file under the test root that the server must not change."""
        out = {}
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root).as_posix()
            if path.is_file() and not any(relative == p or relative.startswith(p + "/") for p in SERVER_OWNED):
                out[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
        return out

    def leftovers(self) -> list[Path]:
        """Temporary files still there (server tmp dir and upload folder), after a bounded wait for
        MONAI Label's after-response clean-up."""
        for _ in range(50):
            left = [p for p in self._temporary() if p not in self.at_start]
            if not left:
                return []
            time.sleep(0.1)
        return left


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("guards")
    root = base / "root"
    studies = root / "datastore"
    write_datastore(studies, cases=3, first_seed=0, labelled=2)
    victim = root / "victim"
    victim.mkdir()
    nib.save(nib.load(studies / "phantom_0000.nii.gz"), victim / "secret.nii.gz")  # a NIfTI outside the datastore
    (victim / "notes.txt").write_text("outside the datastore")
    (root / "tmp").mkdir()
    _write_files(base / "files", studies)
    conf = {"models": "gaussian_click,slice_propagation", "model_dir": root / "model",
            "body_timeout_s": BODY_TIMEOUT_S, "max_upload_mb": MAX_UPLOAD_MB, "cors_origins": ORIGIN}
    extra = {"MONAI_LABEL_SESSION_PATH": str(root / "sessions"), "TMPDIR": str(root / "tmp")}  # every temp file in view
    with start_server(APP_DIR, studies, conf, root / "server.log", env_extra=extra) as running:
        # the warm-up writes its own study under TMPDIR in the background; the temporary files the
        # tests count are those left after it (a race here failed CI once)
        wait_for(root / "server.log", "warm-up done")
        (base / "client").mkdir()
        yield Env(root, running.url, MONAILabelClient(running.url, tmpdir=str(base / "client")))


def _nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(array, affine), path)
    return path


def _write_files(files: Path, studies: Path) -> None:
    """Client-side files: good and broken labels and images."""
    files.mkdir()
    truth = nib.load(studies / "labels" / "final" / "phantom_0000.nii.gz")
    array, affine = np.asarray(truth.dataobj).astype(np.uint8), truth.affine
    _nifti(files / "good.nii.gz", array, affine)
    _nifti(files / "small.nii.gz", array[:10, :10, :10], affine)
    shifted = affine.copy()
    shifted[:3, 3] += 10.0
    _nifti(files / "shifted.nii.gz", array, shifted)
    _nifti(files / "value7.nii.gz", np.where(array > 0, 7, 0).astype(np.uint8), affine)
    _nifti(files / "float.nii.gz", np.where(array > 0, 0.5, 0).astype(np.float32), affine)
    _nifti(files / "zeros.nii.gz", np.zeros_like(array), affine)
    _nifti(files / "value4.nii.gz", np.where(array > 0, 4, 0).astype(np.uint8), affine)
    _nifti(files / "four_d.nii.gz", np.stack([array, array], axis=-1), affine)
    (files / "corrupt.nii.gz").write_bytes(b"\x1f\x8b not a gzip stream at all")
    (files / "empty.nii.gz").write_bytes(b"")
    (files / "text.txt").write_text("hello")
    (files / "big.nii.gz").write_bytes(np.random.default_rng(0).bytes((MAX_UPLOAD_MB + 1) << 20))


def _request(url: str, method: str, target: str, data=None, files=None, headers=None) -> tuple[int, str]:
    """Send a request with ``target`` exactly as given (no dot-segment clean-up); (status, body)."""
    prepared = requests.Request(method, url + "/x", data=data, files=files, headers=headers).prepare()
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    body = prepared.body or b""
    head = {k: v for k, v in prepared.headers.items() if k.lower() in ("content-type", "content-length")}
    head.update(headers or {})
    head["Content-Length"] = str(len(body))
    connection.request(method, target, body=body, headers=head)
    response = connection.getresponse()
    return response.status, response.read().decode(errors="replace")


def _file(env: Env, field: str, name: str, sent_as: str | None = None) -> dict:
    return {field: (sent_as or name, (env.files / name).read_bytes())}


def _q(path: str, **query: str) -> str:
    return f"{path}?{urlencode(query)}"


SECRET = "VICTIMPATH"  # replaced by the absolute path of a NIfTI outside the datastore
NAME = r"is not a valid name"
PATH = r"must not name a server path"

#: (id, method, target, form fields, files (field, client file, name sent), status, message pattern)
CASES = [
    # ids, tags and paths in the datastore routes
    ("label-tag-dotdot", "PUT", _q("/datastore/label", image="phantom_0000", tag="../../x"), None, ("label", "good.nii.gz", None), 400, NAME),
    ("label-tag-absolute", "PUT", _q("/datastore/label", image="phantom_0000", tag="/tmp/x"), None, ("label", "good.nii.gz", None), 400, NAME),
    ("label-image-dotdot", "PUT", _q("/datastore/label", image="../victim", tag="final"), None, ("label", "good.nii.gz", None), 400, NAME),
    ("label-image-unknown", "PUT", _q("/datastore/label", image="nope", tag="final"), None, ("label", "good.nii.gz", None), 404, "unknown image id 'nope'"),
    ("label-params-list", "PUT", _q("/datastore/label", image="phantom_0000"), {"params": "[1, 2]"}, ("label", "good.nii.gz", None), 400, "must be a JSON object"),
    ("image-id-dotdot", "PUT", _q("/datastore/image", image="../victim"), None, ("file", "good.nii.gz", None), 400, NAME),
    ("image-id-absolute", "PUT", _q("/datastore/image", image="/etc/x"), None, ("file", "good.nii.gz", None), 400, NAME),
    ("image-name-from-file", "PUT", "/datastore/image", None, ("file", "good.nii.gz", "../a b.nii.gz"), 400, NAME),
    ("image-exists", "PUT", _q("/datastore/image", image="phantom_0000"), None, ("file", "good.nii.gz", None), 409, "exists"),
    ("image-not-a-volume", "PUT", _q("/datastore/image", image="new_one"), None, ("file", "corrupt.nii.gz", None), 415, "cannot read"),
    ("image-suffix", "PUT", _q("/datastore/image", image="new_one"), None, ("file", "text.txt", None), 415, "must end with"),
    ("image-too-large", "PUT", _q("/datastore/image", image="new_one"), None, ("file", "big.nii.gz", None), 413, "larger than"),
    ("delete-image-dotdot", "DELETE", _q("/datastore/image", id="../victim"), None, None, 400, NAME),
    ("delete-image-old-route", "DELETE", _q("/datastore/", id="../../victim"), None, None, 400, NAME),
    ("delete-image-unknown", "DELETE", _q("/datastore/image", id="nope"), None, None, 404, "unknown image id"),
    ("delete-label-tag-dotdot", "DELETE", _q("/datastore/label", id="phantom_0000", tag=".."), None, None, 400, NAME),
    ("delete-label-unknown", "DELETE", _q("/datastore/label", id="phantom_0002", tag="final"), None, None, 404, "no label"),
    ("download-image-absolute", "GET", _q("/datastore/image", image=SECRET), None, None, 400, NAME),
    ("download-label-tag-dotdot", "GET", _q("/datastore/label", label="phantom_0000", tag="../../victim"), None, None, 400, NAME),
    ("image-info-unknown", "GET", _q("/datastore/image/info", image="nope"), None, None, 404, "unknown image id"),
    ("put-image-info-unknown", "PUT", _q("/datastore/image/info", image="nope"), {"info": "{}"}, None, 404, "unknown image id"),
    ("put-image-info-list", "PUT", _q("/datastore/image/info", image="phantom_0000"), {"info": "[1]"}, None, 400, "JSON object"),
    ("put-label-info-unknown", "PUT", _q("/datastore/label/info", label="phantom_0002", tag="final"), {"info": "{}"}, None, 404, "no label"),
    # sessions
    ("session-get-dotdot", "GET", "/session/..", None, None, 400, "path segment '..'"),
    ("session-delete-dotdot", "DELETE", "/session/..", None, None, 400, "path segment '..'"),
    ("session-unknown", "GET", "/session/nope", None, None, 404, "Not Found"),
    ("session-uncompress", "PUT", _q("/session/", uncompress="true"), None, ("files", "good.nii.gz", None), 400, "uncompress"),
    ("session-not-a-volume", "PUT", "/session/", None, ("files", "corrupt.nii.gz", None), 415, "cannot read"),
    # inference: sources
    ("infer-image-absolute", "POST", _q("/infer/gaussian_click_2d", image=SECRET), None, None, 400, NAME),
    ("infer-image-unknown", "POST", _q("/infer/gaussian_click_2d", image="nope"), None, None, 404, "unknown image id 'nope'"),
    ("infer-nothing", "POST", "/infer/gaussian_click_2d", None, None, 400, "name an image id"),
    ("infer-model-unknown", "POST", _q("/infer/nope", image="phantom_0000"), None, None, 404, "unknown model 'nope'"),
    ("infer-session-unknown", "POST", _q("/infer/gaussian_click_2d", session_id="nope"), None, None, 404, "unknown session"),
    ("infer-file-suffix", "POST", "/infer/gaussian_click_2d", None, ("file", "text.txt", None), 415, "must end with"),
    ("infer-file-corrupt", "POST", "/infer/gaussian_click_2d", {"params": json.dumps({"foreground": [[5, 5, 5]]})}, ("file", "corrupt.nii.gz", None), 415, "cannot read"),
    # inference: params
    ("params-image-path", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": json.dumps({"image": SECRET})}, None, 400, PATH),
    ("params-image-name", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": json.dumps({"image": "phantom_0001"})}, None, 422, "cannot be set by a client"),
    ("params-label-path", "POST", _q("/infer/slice_propagation", image="phantom_0000"), {"params": json.dumps({"label": SECRET, "slices": [3]})}, None, 400, PATH),
    ("params-label-not-a-name", "POST", _q("/infer/slice_propagation", image="phantom_0000"), {"params": json.dumps({"label": "secret.nii.gz"})}, None, 422, "params.label must be one of"),
    ("params-save-label-tag", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": json.dumps({"save_label": True, "label_tag": "../../x"})}, None, 400, PATH),
    ("params-result-extension", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": json.dumps({"result_extension": ".exe"})}, None, 422, "result_extension"),
    ("params-list", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": "[1]"}, None, 400, "JSON object, got list"),
    ("params-string", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": '"abc"'}, None, 400, "JSON object, got str"),
    ("params-number", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": "3"}, None, 400, "JSON object, got int"),
    ("params-null", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": "null"}, None, 400, "JSON object, got NoneType"),
    ("params-bad-json", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": "{oops"}, None, 400, "not valid JSON"),
    ("params-reset-yes", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": json.dumps({"reset": "yes"})}, None, 422, "params.reset must be true or false"),
    ("params-use-cache-no", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": json.dumps({"use_cache": "no"})}, None, 422, "params.use_cache"),
    ("params-float-click", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": json.dumps({"foreground": [[1.5, 2, 3]]})}, None, 422, "integer voxel indices"),
    ("params-negative-click", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": json.dumps({"background": [[-1, 2, 3]], "foreground": [[5, 5, 5]]})}, None, 422, "outside the image"),
    ("params-clicks-not-list", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": json.dumps({"foreground": "1,2,3"})}, None, 422, "must be a list"),
    ("params-device", "POST", _q("/infer/gaussian_click_2d", image="phantom_0000"), {"params": json.dumps({"device": "cuda:0; rm"})}, None, 422, "params.device"),
    # labels: content
    ("label-corrupt", "PUT", _q("/datastore/label", image="phantom_0000"), None, ("label", "corrupt.nii.gz", None), 415, "cannot read the label"),
    ("label-empty-file", "PUT", _q("/datastore/label", image="phantom_0000"), None, ("label", "empty.nii.gz", None), 400, "empty"),
    ("label-suffix", "PUT", _q("/datastore/label", image="phantom_0000"), None, ("label", "text.txt", None), 415, "must end with"),
    ("label-wrong-shape", "PUT", _q("/datastore/label", image="phantom_0000"), None, ("label", "small.nii.gz", None), 422, "shape"),
    ("label-wrong-geometry", "PUT", _q("/datastore/label", image="phantom_0000"), None, ("label", "shifted.nii.gz", None), 422, "geometry"),
    ("label-other-image-grid", "PUT", _q("/datastore/label", image="phantom_0001"), None, ("label", "good.nii.gz", None), 422, "geometry"),
    ("label-value-7", "PUT", _q("/datastore/label", image="phantom_0000"), None, ("label", "value7.nii.gz", None), 422, r"values \[7\]"),
    ("label-float", "PUT", _q("/datastore/label", image="phantom_0000"), None, ("label", "float.nii.gz", None), 422, "must be integers"),
    ("label-4d", "PUT", _q("/datastore/label", image="phantom_0000"), None, ("label", "four_d.nii.gz", None), 415, "3D"),
    ("corrective-empty", "PUT", _q("/datastore/label", image="phantom_0000", tag="corrective"), None, ("label", "zeros.nii.gz", None), 422, "no annotated voxel"),
    ("corrective-value-4", "PUT", _q("/datastore/label", image="phantom_0000", tag="corrective"), None, ("label", "value4.nii.gz", None), 422, r"values \[4\]"),
    ("label-info-unknown-name", "PUT", _q("/datastore/label", image="phantom_0000"), {"params": json.dumps({"label_info": [{"name": "liver", "idx": 1}]})}, ("label", "good.nii.gz", None), 422, "'liver'"),
    ("label-info-not-list", "PUT", _q("/datastore/label", image="phantom_0000"), {"params": json.dumps({"label_info": "gtv"})}, ("label", "good.nii.gz", None), 422, "label_info must be a list"),
    # training, strategies, scoring, models
    ("train-unknown", "POST", "/train/nope", None, None, 404, "unknown trainer 'nope'"),
    ("train-run-sync", "POST", _q("/train/gaussian_click", run_sync="true"), None, None, 400, "run_sync"),
    ("strategy-unknown", "POST", "/activelearning/nope", None, None, 404, "unknown strategy 'nope'"),
    ("scoring-unknown", "POST", "/scoring/nope", None, None, 404, "unknown scoring method"),
    ("model-upload", "PUT", "/model/gaussian_click_2d", None, ("file", "good.nii.gz", None), 403, "model upload is disabled"),
    ("model-delete", "DELETE", "/model/gaussian_click_2d", None, None, 403, "model delete is disabled"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_request_is_a_4xx_that_names_it_and_changes_nothing(env, case):
    _, method, target, data, upload, status, words = case
    secret = str(env.victim / "secret.nii.gz")
    target = target.replace(SECRET, quote(secret, safe=""))
    data = {k: v.replace(SECRET, secret) for k, v in (data or {}).items()} or None
    files = _file(env, *upload) if upload else None
    before = env.snapshot()
    got, body = _request(env.url, method, target, data=data, files=files)
    assert got == status, body
    assert re.search(words, json.loads(body)["detail"]), body
    assert env.snapshot() == before  # nothing outside the datastore, nor any image or label in it, changed
    assert env.leftovers() == []  # no temporary upload left
    assert env.client.info()["models"]  # the server still answers


def test_a_body_shorter_than_its_content_length_gets_408(env):
    parsed = urlparse(env.url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=BODY_TIMEOUT_S * 10) as s:
        s.sendall(b"PUT /datastore/label?image=phantom_0000 HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n")
        answer = b""
        while chunk := s.recv(4096):  # the server closes the connection after its answer
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 408") and "request body incomplete" in answer
    assert env.client.info()["models"]


def test_cors_answers_only_the_configured_origin(env):
    allowed = requests.get(env.url + "/info/", headers={"Origin": ORIGIN}, timeout=30)
    other = requests.get(env.url + "/info/", headers={"Origin": "http://evil.example"}, timeout=30)
    assert allowed.headers.get("access-control-allow-origin") == ORIGIN
    assert "access-control-allow-origin" not in other.headers


def _slicer_multipart(fields: dict[str, str], files: dict[str, str]) -> tuple[str, bytes]:
    """The body the Slicer extension's MONAILabelUtils.encode_multipart_formdata builds (same
    boundary, fields first, the file's *full local path* as its name, CRLF line ends)."""
    boundary = "----------lImIt_of_THE_fIle_eW_$"
    lines: list[bytes] = []
    for key, value in fields.items():
        lines += [f"--{boundary}".encode(), f'Content-Disposition: form-data; name="{key}"'.encode(), b"", value.encode()]
    for key, filename in files.items():
        lines += [f"--{boundary}".encode(), f'Content-Disposition: form-data; name="{key}"; filename="{filename}"'.encode(),
                  b"Content-Type: application/octet-stream", b"", Path(filename).read_bytes()]
    lines += [f"--{boundary}--".encode(), b""]
    return f"multipart/form-data; boundary={boundary}", b"\r\n".join(lines) + b"\r\n"


def test_the_slicer_extension_save_is_accepted_and_mapped_by_segment_name(env):
    studies = env.studies
    truth = np.asarray(nib.load(studies / "labels" / "final" / "phantom_0001.nii.gz").dataobj)
    # Slicer's segments: background (skipped), heart, gtv -> exported as heart 1, gtv 2; idx counts the skip.
    exported = np.zeros(truth.shape, np.int16)
    exported[truth == 2], exported[truth == 1] = 1, 2
    image = sitk.ReadImage(str(studies / "phantom_0001.nii.gz"))
    labelmap = sitk.GetImageFromArray(exported.transpose(2, 1, 0))
    labelmap.CopyInformation(image)
    local = env.files / "slicer-monai-label" / "tmpk2x9q1.nrrd"
    local.parent.mkdir(exist_ok=True)
    sitk.WriteImage(labelmap, str(local), useCompression=True)
    params = {"label_info": [{"name": "heart", "idx": 2}, {"name": "gtv", "idx": 3}], "model": "gaussian_click_2d",
              "client_id": "user-xyz"}
    content_type, body = _slicer_multipart({"params": json.dumps(params)}, {"label": str(local)})
    parsed = urlparse(env.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    connection.request("PUT", "/datastore/label?image=phantom_0001", body,
                       {"content-type": content_type, "content-length": str(len(body))})
    response = connection.getresponse()
    assert response.status == 200, response.read()
    assert json.loads(response.read()) == {"image": "phantom_0001", "label": "phantom_0001"}
    saved = studies / "labels" / "final" / "phantom_0001.nrrd"
    kept = sitk.GetArrayFromImage(sitk.ReadImage(str(saved))).transpose(2, 1, 0)
    np.testing.assert_array_equal(kept, truth)  # gtv 1, heart 2 again, on the image's grid
    assert not (studies / "labels" / "final" / "phantom_0001.nii.gz").exists()  # one final label per image
    assert env.client.datastore()["objects"]["phantom_0001"]["labels"]["final"]["ext"] == ".nrrd"
    assert env.leftovers() == []


def test_the_monailabel_client_save_is_kept_byte_for_byte(env):
    client, studies = env.client, env.studies
    good = env.files / "good.nii.gz"  # phantom_0000's truth, on phantom_0000's grid
    client.save_label("phantom_0000", str(good), tag="final")
    assert (studies / "labels" / "final" / "phantom_0000.nii.gz").read_bytes() == good.read_bytes()
    corrective = np.zeros(nib.load(good).shape, np.uint8)
    corrective[5:8, 5:8, 5:8] = 3
    path = _nifti(env.files / "corrective.nii.gz", corrective, nib.load(good).affine)
    client.save_label("phantom_0000", str(path), tag="corrective")
    assert (studies / "labels" / "corrective" / "phantom_0000.nii.gz").read_bytes() == path.read_bytes()
    with pytest.raises(MONAILabelClientException) as error:
        client.save_label("phantom_0000", str(env.files / "value7.nii.gz"), tag="final")
    assert "Status: 422" in error.value.msg and "values [7]" in error.value.msg
    assert (studies / "labels" / "final" / "phantom_0000.nii.gz").read_bytes() == good.read_bytes()
    assert env.leftovers() == []


def test_clicks_from_the_client_still_work_and_leave_no_temp_file(env):
    label, params = env.client.infer("gaussian_click_2d", "phantom_0002", {"foreground": [[50, 50, 20]], "background": []})
    assert nib.load(label).shape == nib.load(env.studies / "phantom_0002.nii.gz").shape
    assert env.leftovers() == []
