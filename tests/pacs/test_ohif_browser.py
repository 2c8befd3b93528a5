"""OHIF in Debian's Chromium (Playwright) against the app on Orthanc: view, list models, run, save as SEG.

The study is the oblique phantom. Each step's screenshot goes to ``$RT_OHIF_SCREENSHOTS`` when set
(``results/ohif/`` for the README), else to the test's temporary folder.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import playwright.sync_api as playwright  # requirements-dev.txt
import pydicom
import pytest
from PIL import Image

from lib.dicom.geometry import RAS_TO_LPS
from lib.dicom.seg import seg_to_label
from lib.dicom.series import read_series

pytestmark = pytest.mark.slow  # Orthanc and a MONAI Label server (once per session)

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--enable-unsafe-swiftshader", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
TIMEOUT_MS = 60_000

# Voxel (i, j, k) -> world (LPS mm) through the labelmap volume OHIF draws into: the mapping the
# MONAI Label panel inverts (transformWorldToIndex) to turn a click into the voxel it sends.
INDEX_TO_WORLD = """(points) => {
  const volume = window.services.segmentationService.getLabelmapVolume('1');
  return points.map((p) => Array.from(volume.imageData.indexToWorld(p)));
}"""
VIEWPORT_INDEX_TO_WORLD = """(points) => {
  const services = window.services;
  const id = services.viewportGridService.getState().activeViewportId;
  const { imageData } = services.cornerstoneViewportService.getCornerstoneViewport(id).getImageData();
  return points.map((p) => Array.from(imageData.indexToWorld(p)));
}"""
LABELMAP_NONZERO = """() => {
  const volume = window.services.segmentationService.getLabelmapVolume('1');
  if (!volume) return 0;
  const data = volume.voxelManager.getCompleteScalarDataArray();
  let n = 0; for (let i = 0; i < data.length; i++) { if (data[i]) n++; } return n;
}"""


def shots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RT_OHIF_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def drawn(page) -> bool:
    """Whether the first viewport's canvas shows an image (not one flat colour)."""
    canvas = page.locator("canvas.cornerstone-canvas").first
    if not canvas.count() or not canvas.is_visible():
        return False
    pixels = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("L"), dtype=float)
    return pixels.std() > 10


def wait_for(page, condition, what: str, timeout_ms: int = TIMEOUT_MS) -> None:
    for _ in range(timeout_ms // 500):
        if condition():
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"timed out waiting for {what}")


def test_ohif_views_runs_the_automatic_model_and_saves_a_seg(pacs, tmp_path):
    case = pacs.cases["oblique"]
    shots = shots_dir(tmp_path)
    before = {s["ID"] for s in pacs.orthanc.series("SEG")}
    errors: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{pacs.server.url}/ohif/monai-label?StudyInstanceUIDs={case.study_uid}")
            wait_for(page, lambda: drawn(page), "the CT to be drawn")
            page.screenshot(path=str(shots / "1_study.png"))

            server = page.locator('input[value="http://127.0.0.1:8000/"]')  # the panel's default server
            server.fill(f"{pacs.server.url}/")
            page.locator("button.actionButton").first.click()  # connect: the panel reads /info
            options = page.locator("select option[value='segmentation']")
            wait_for(page, lambda: options.count() > 0, "the models to be listed")
            page.screenshot(path=str(shots / "2_models.png"))

            select = options.first.locator("xpath=..")
            select.select_option("segmentation")
            select.locator("xpath=ancestor::table[1]").get_by_role("button", name="Run").click()
            wait_for(page, lambda: page.evaluate(LABELMAP_NONZERO) > 0, "the overlay")
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / "3_overlay.png"))

            corners = [[0, 0, 0], [63, 0, 0], [0, 63, 0], [0, 0, 31], [63, 63, 31]]
            world = np.asarray(page.evaluate(INDEX_TO_WORLD, corners))

            page.locator("#radiotherapy-save-seg").click()
            wait_for(page, lambda: page.evaluate("() => (window.radiotherapySave || {}).state") in ("saved", "failed"),
                     "the save")
            saved = page.evaluate("() => window.radiotherapySave")
            page.screenshot(path=str(shots / "4_saved.png"))

            lps = pacs.cases["LPS"]  # the same check on the LPS series, through the CT volume itself
            page.goto(f"{pacs.server.url}/ohif/monai-label?StudyInstanceUIDs={lps.study_uid}")
            wait_for(page, lambda: drawn(page), "the LPS CT to be drawn")
            lps_world = np.asarray(page.evaluate(VIEWPORT_INDEX_TO_WORLD, corners))
        finally:
            browser.close()
    assert saved["status"] == 200, saved
    assert not errors, errors

    # The voxel OHIF shows at (i, j, k) is where the server's image has (i, j, k): clicks land right.
    image = nib.load(pacs.client.infer("segmentation", case.ct_series_uid, {})[0])
    expected = (np.c_[np.asarray(corners, float), np.ones(len(corners))] @ image.affine.T)[:, :3] @ RAS_TO_LPS.T
    assert np.allclose(world, expected, atol=1e-3)
    lps_affine = read_series([f for f in lps.files if "/ct/" in f])[1]  # the server's grid (test_pacs_server)
    lps_expected = (np.c_[np.asarray(corners, float), np.ones(len(corners))] @ lps_affine.T)[:, :3] @ RAS_TO_LPS.T
    assert np.allclose(lps_world, lps_expected, atol=1e-3)

    # The new SEG is in the study, and holds what the model drew in the browser, voxel for voxel.
    new = [s for s in pacs.orthanc.series("SEG") if s["ID"] not in before]
    assert len(new) == 1
    seg = pydicom.dcmread(io.BytesIO(pacs.orthanc.get(f"/instances/{new[0]['Instances'][0]}/file").content))
    assert seg.StudyInstanceUID == case.study_uid
    source = [pydicom.dcmread(f) for f in case.files if "/ct/" in f]
    assert np.array_equal(seg_to_label(seg, source), np.asarray(image.dataobj).astype(np.uint8))


ANNOTATION_POINTS = """() => window.cornerstoneTools.annotation.state.getAllAnnotations()
  .filter((a) => a.metadata.toolName === 'ProbeMONAILabel').map((a) => Array.from(a.data.handles.points[0]))"""


def test_a_click_in_ohif_reaches_the_server_as_the_voxel_under_it(pacs, tmp_path):
    """On the LPS series: a foreground click with the Gaussian-click model (a deepgrow-type model)."""
    case = pacs.cases["LPS"]
    sent: list[dict] = []

    def keep_params(request) -> None:
        if "/infer/gaussian_click_2d" in request.url and request.post_data:
            text = request.post_data_buffer.decode(errors="replace")
            start = text.index("{", text.index('name="params"'))
            sent.append(json.JSONDecoder().raw_decode(text[start:])[0])

    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("request", keep_params)
            page.goto(f"{pacs.server.url}/ohif/monai-label?StudyInstanceUIDs={case.study_uid}")
            wait_for(page, lambda: drawn(page), "the CT to be drawn")
            page.locator('input[value="http://127.0.0.1:8000/"]').fill(f"{pacs.server.url}/")
            page.locator("button.actionButton").first.click()
            options = page.locator("select option[value='gaussian_click_2d']")
            wait_for(page, lambda: options.count() > 0, "the click models to be listed")
            page.get_by_text("Point Prompts", exact=True).click()
            select = options.first.locator("xpath=..")
            select.select_option("gaussian_click_2d")
            page.locator("tr.clickable-row", has_text="heart").first.click()
            canvas = page.locator("canvas.cornerstone-canvas").first
            box = canvas.bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
            wait_for(page, lambda: len(page.evaluate(ANNOTATION_POINTS)) == 1, "the click to be placed")
            world = np.asarray(page.evaluate(ANNOTATION_POINTS)[0])
            select.locator("xpath=ancestor::table[1]").get_by_role("button", name="Run").click()
            wait_for(page, lambda: bool(sent) and page.evaluate(LABELMAP_NONZERO) > 0, "the click's answer")
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots_dir(tmp_path) / "5_click.png"))
        finally:
            browser.close()
    affine = read_series([f for f in case.files if "/ct/" in f])[1]
    voxel = np.linalg.inv(affine) @ np.r_[RAS_TO_LPS @ world, 1.0]
    assert sent[0]["foreground"] == [np.round(voxel[:3]).astype(int).tolist()], (sent[0], voxel)
