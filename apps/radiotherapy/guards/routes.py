"""The app's own versions of MONAI Label 0.8.5's routes that take ids, paths or files from clients.

Each route checks what the client sent before any work: names (:func:`lib.names.check_name`),
that the image, label, model, strategy or session exists (404 naming it), that ``params`` is
a JSON object without server paths, and uploaded files (suffix, size; labels by
:mod:`apps.radiotherapy.guards.labels`). The work itself runs in a bounded thread pool
(:mod:`apps.radiotherapy.guards.concurrency`), mostly through MONAI Label's own endpoint
functions. Uploads are removed on every path. Admin-only (MONAI Label's RBAC roles when its
authentication is on): deleting images and labels, the dataset export, training, reload.
Model upload and delete are refused: the server publishes weights from its own training.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, HTTPException, UploadFile
from monailabel.config import settings
from monailabel.endpoints import activelearning as stock_activelearning
from monailabel.endpoints import batch_infer as stock_batch
from monailabel.endpoints import datastore as stock_datastore
from monailabel.endpoints import infer as stock_infer
from monailabel.endpoints import scoring as stock_scoring
from monailabel.endpoints import train as stock_train
from monailabel.endpoints.user.auth import RBAC, User
from monailabel.interfaces.tasks.batch_infer import BatchInferImageType
from monailabel.interfaces.utils.app import app_instance, clear_cache

from apps.radiotherapy.guards.concurrency import BoundedPool
from apps.radiotherapy.guards.labels import UnreadableLabel, label_to_keep, raw_label_as_nifti
from apps.radiotherapy.guards.params import check_infer_params, check_no_paths, json_object
from apps.radiotherapy.guards.uploads import IMAGE_SUFFIXES, LABEL_SUFFIXES, RAW_LABEL_SUFFIX, UploadFolder, upload_suffix
from lib.names import check_name

logger = logging.getLogger(__name__)

ADMIN = Depends(RBAC(settings.MONAI_LABEL_AUTH_ROLE_ADMIN))
ANNOTATOR = Depends(RBAC(settings.MONAI_LABEL_AUTH_ROLE_ANNOTATOR))
USER = Depends(RBAC(settings.MONAI_LABEL_AUTH_ROLE_USER))
MAX_SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass
class Guards:
    """What the routes share: the pools, the upload folder and the app's labels."""

    infer: BoundedPool
    work: BoundedPool
    uploads: UploadFolder
    labels: Mapping[str, int] = field(default_factory=dict)
    #: Called with an image id a client has just fetched (next sample, download), e.g. to prepare it.
    on_image_fetched: Callable[[str, str], None] = lambda image_id, reason: None


_GUARDS: Guards | None = None


def set_guards(guards: Guards) -> None:
    global _GUARDS
    _GUARDS = guards


def guards() -> Guards:
    if _GUARDS is None:
        raise RuntimeError("the app's guards are not installed (apps.radiotherapy.guards.install_guards)")
    return _GUARDS


def name(value: object, what: str) -> str:
    """``value`` if it is a name, else HTTP 400 naming ``what``."""
    try:
        return check_name(value, what)
    except ValueError as error:
        raise HTTPException(status_code=400, detail=str(error)) from None


def known_image(image: object) -> str:
    """A datastore image id (400 if not a name, 404 if not in the datastore)."""
    image = name(image, "image id")
    datastore = app_instance().datastore()
    if image not in datastore.list_images():
        explain = getattr(datastore, "check_image", None)  # a PACS says why a series is not listed (4xx)
        if explain is not None:
            explain(image)
        raise HTTPException(status_code=404, detail=f"unknown image id '{image}': not in the datastore")
    return image


def known_label(label: object, tag: object) -> tuple[str, str]:
    """A (label id, tag) the datastore holds (400 if not names, 404 if absent)."""
    label, tag = name(label, "label id"), name(tag, "label tag")
    if not app_instance().datastore().get_label_uri(label, tag):
        raise HTTPException(status_code=404, detail=f"no label '{label}' with tag '{tag}' in the datastore")
    return label, tag


def known(value: object, what: str, available: Iterable[str]) -> str:
    value, available = name(value, what), sorted(available)
    if value not in available:
        raise HTTPException(status_code=404, detail=f"unknown {what} '{value}'; available: {available}")
    return value


def params_of(text: str, what: str = "params", paths_ok: bool = False) -> dict[str, Any]:
    """``text`` as a JSON object (400 otherwise); unless ``paths_ok``, with no server path in it."""
    try:
        params = json_object(text, what)
        if not paths_ok:
            check_no_paths(params, what)
    except ValueError as error:
        raise HTTPException(status_code=400, detail=str(error)) from None
    return params


def body_params(params: Optional[dict], what: str = "params") -> dict[str, Any]:
    params = params or {}
    try:
        check_no_paths(params, what)
    except ValueError as error:
        raise HTTPException(status_code=400, detail=str(error)) from None
    if params.get("run_sync"):
        raise HTTPException(status_code=400, detail="run_sync is not supported: tasks run in their own process")
    return params


def refuse_run_sync(run_sync: Optional[bool]) -> None:
    if run_sync:
        raise HTTPException(status_code=400, detail="run_sync is not supported: tasks run in their own process")


async def with_cleanup(background_tasks: BackgroundTasks, run):
    """Await ``run``; on any error run the request's background tasks (MONAI Label's temp-file
    removals) before the error answers, since Starlette runs them only after a success."""
    try:
        return await run
    except BaseException:
        await background_tasks()
        raise


router = APIRouter()


# ---- datastore -------------------------------------------------------------------------------


@router.put("/datastore/label", summary="Save a label (checked against its image)", tags=["Datastore"])
async def save_label(
    image: str,
    params: str = Form("{}"),
    tag: str = "final",
    label: UploadFile = File(...),
    user: User = ANNOTATOR,
):
    image, tag = known_image(image), name(tag or "final", "label tag")
    info = params_of(params, paths_ok=True)  # kept as the label's info, never used as a path
    suffix = upload_suffix(label.filename, (*LABEL_SUFFIXES, RAW_LABEL_SUFFIX), "label")
    if user.username:
        info["user"] = user.username
    g = guards()

    def keep() -> dict[str, Any]:
        instance = app_instance()
        datastore = instance.datastore()
        with g.uploads.saved(label, suffix, "label") as upload:
            stem = upload.name[: -len(suffix)]
            mapped = upload.with_name(f"{stem}-mapped{suffix}")
            raw = upload.with_name(f"{stem}-raw.nii.gz")
            try:
                image_path = datastore.get_image_uri(image)
                segments = info.get("label_info")
                if suffix == RAW_LABEL_SUFFIX:  # OHIF: each segment's idx is its value in the file
                    upload, segments = raw_label_as_nifti(upload, image_path, segments, g.labels, raw), None
                kept = label_to_keep(upload, image_path, tag, segments, g.labels, mapped)
                # the kept file holds the app's values: the client's segment list is kept as a record only
                if "label_info" in info:
                    info["client_segments"] = info.pop("label_info")
                label_id = datastore.save_label(image, str(kept), tag, info)
            except UnreadableLabel as error:
                raise HTTPException(status_code=415, detail=f"label: {error}") from None
            except ValueError as error:
                raise HTTPException(status_code=422, detail=f"label not saved: {error}") from None
            finally:
                mapped.unlink(missing_ok=True)
                raw.unlink(missing_ok=True)
        result = instance.on_save_label(image, label_id) or {}
        return {**result, "image": image, "label": label_id}

    return await g.work.run(keep)


async def _add_image(image: Optional[str], params: str, file: UploadFile, user: User):
    suffix = upload_suffix(file.filename, IMAGE_SUFFIXES, "image")
    if image:
        image_id = name(image, "image id")
    else:
        base = (file.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        image_id = name(base[: -len(suffix)], "image id (from the file name)")
    info = params_of(params, paths_ok=True)
    if user.username:
        info["user"] = user.username
    if image_id in app_instance().datastore().list_images():
        raise HTTPException(status_code=409, detail=f"image id '{image_id}' exists; remove it first or choose another")
    g = guards()

    def add() -> dict[str, str]:
        from lib.label_check import read_grid

        with g.uploads.saved(file, suffix, "image") as upload:
            try:
                read_grid(str(upload))
            except ValueError as error:
                raise HTTPException(status_code=415, detail=str(error)) from None
            return {"image": app_instance().datastore().add_image(image_id, str(upload), info)}

    return await g.work.run(add)


@router.put("/datastore/image", summary="Upload a new image", tags=["Datastore"])
async def add_image(image: Optional[str] = None, params: str = Form("{}"), file: UploadFile = File(...),
                    user: User = ANNOTATOR):
    return await _add_image(image, params, file, user)


@router.put("/datastore/", include_in_schema=False)
async def add_image_old(image: Optional[str] = None, params: str = Form("{}"), file: UploadFile = File(...),
                        user: User = ANNOTATOR):
    return await _add_image(image, params, file, user)


async def _remove_image(id: str) -> dict:
    image = known_image(id)
    await guards().work.run(app_instance().datastore().remove_image, image)
    return {}


@router.delete("/datastore/image", summary="Remove an image and its labels (admin)", tags=["Datastore"])
async def remove_image(id: str, user: User = ADMIN):
    return await _remove_image(id)


@router.delete("/datastore/", include_in_schema=False)
async def remove_image_old(id: str, user: User = ADMIN):
    return await _remove_image(id)


@router.delete("/datastore/label", summary="Remove a label (admin)", tags=["Datastore"])
async def remove_label(id: str, tag: str, user: User = ADMIN):
    label, tag = known_label(id, tag)
    await guards().work.run(app_instance().datastore().remove_label, label, tag)
    return {}


@router.get("/datastore/image", summary="Download an image", tags=["Datastore"])
async def download_image(image: str, user: User = USER):
    image = known_image(image)
    response = await guards().work.run(stock_datastore.download_image, image)
    guards().on_image_fetched(image, "download")
    return response


@router.get("/datastore/image/info", summary="Image info", tags=["Datastore"])
async def get_image_info(image: str, user: User = USER):
    return app_instance().datastore().get_image_info(known_image(image))


@router.put("/datastore/image/info", summary="Update image info", tags=["Datastore"])
async def put_image_info(image: str, info: str = Form("{}"), user: User = ANNOTATOR):
    image, values = known_image(image), params_of(info, "info", paths_ok=True)
    if user.username:
        values["user"] = user.username
    await guards().work.run(app_instance().datastore().update_image_info, image, values)
    return {}


@router.get("/datastore/label/info", summary="Label info", tags=["Datastore"])
async def get_label_info(label: str, tag: str, user: User = USER):
    return app_instance().datastore().get_label_info(*known_label(label, tag))


async def _put_label_info(label: str, tag: str, info: str, user: User) -> dict:
    label, tag = known_label(label, tag)
    values = params_of(info, "info", paths_ok=True)
    if user.username:
        values["user"] = user.username
    await guards().work.run(app_instance().datastore().update_label_info, label, tag, values)
    return {}


@router.put("/datastore/label/info", summary="Update label info", tags=["Datastore"])
async def put_label_info(label: str, tag: str, info: str = Form("{}"), user: User = ANNOTATOR):
    return await _put_label_info(label, tag, info, user)


@router.put("/datastore/updatelabelinfo", include_in_schema=False)
async def put_label_info_old(label: str, tag: str, params: str = Form("{}"), user: User = ANNOTATOR):
    return await _put_label_info(label, tag, params, user)


@router.get("/datastore/dataset", summary="Download the dataset as a ZIP archive (admin)", tags=["Datastore"])
async def download_dataset(limit_cases: Optional[int] = None, user: User = ADMIN):
    if limit_cases is not None and limit_cases < 1:
        raise HTTPException(status_code=400, detail=f"limit_cases must be a positive number, got {limit_cases}")
    return await guards().work.run(stock_datastore.download_dataset, limit_cases)


# ---- inference -------------------------------------------------------------------------------


@router.post("/infer/{model}", summary="Run inference on a datastore image, a session or an upload", tags=["Infer"])
async def run_inference(
    background_tasks: BackgroundTasks,
    model: str,
    image: str = "",
    session_id: str = "",
    params: str = Form("{}"),
    file: UploadFile = File(None),
    label: UploadFile = File(None),
    output: Optional[stock_infer.ResultType] = None,
    user: User = USER,
):
    instance = app_instance()
    model = known(model, "model", instance.info().get("models", {}))
    request = params_of(params)
    try:
        check_infer_params(request, instance.info().get("labels", {}))
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    if session_id:
        session_id = name(session_id, "session id")
        sessions = instance.sessions()
        if sessions is None or not sessions.get_session(session_id, update_ts=False):
            raise HTTPException(status_code=404, detail=f"unknown session id '{session_id}' (expired or never made)")
    if file:
        upload_suffix(file.filename, IMAGE_SUFFIXES, "image")
    if image and not file and not session_id:
        image = known_image(image)
    elif image:
        image = name(image, "image id")
    if not (file or image or session_id):
        raise HTTPException(status_code=400, detail="name an image id, a session id, or upload an image file")
    if label:
        suffix = upload_suffix(label.filename, (*LABEL_SUFFIXES, RAW_LABEL_SUFFIX), "label")
        if suffix == RAW_LABEL_SUFFIX:
            image = known_image(image)
    if request.get("save_label") and (file or session_id):
        raise HTTPException(status_code=400, detail="save_label needs a datastore image (not an upload or a session)")
    if output == stock_infer.ResultType.dicom_seg:
        from monailabel.datastore.dicom import DICOMWebDatastore

        if not isinstance(instance.datastore(), DICOMWebDatastore):
            raise HTTPException(status_code=400, detail="output=dicom_seg needs a DICOMweb datastore")

    run = stock_infer.run_inference
    args = (background_tasks, model, image, session_id, json.dumps(request), file, label, output)
    return await with_cleanup(background_tasks, guards().infer.run(run, *args))


@router.post("/batch/infer/{model}", summary="Batch inference (admin)", tags=["Infer"])
async def run_batch_inference(model: str, images: Optional[BatchInferImageType] = None,
                              params: Optional[dict] = None, run_sync: Optional[bool] = False, user: User = ADMIN):
    model = known(model, "model", app_instance().info().get("models", {}))
    refuse_run_sync(run_sync)
    params = body_params(params)
    return await guards().work.run(stock_batch.run, model, images, params, False)


# ---- sessions --------------------------------------------------------------------------------


@router.put("/session/", summary="Create a session with an uploaded image", tags=["Session"])
async def create_session(uncompress: bool = False, expiry: int = 0, files: list[UploadFile] = File(...),
                         user: User = USER):
    sessions = app_instance().sessions()
    if sessions is None:
        raise HTTPException(status_code=406, detail="sessions are not enabled on this server")
    if uncompress:
        raise HTTPException(status_code=400, detail="uncompress is not supported: upload the image file itself")
    if not 0 <= expiry <= MAX_SESSION_EXPIRY_S:
        raise HTTPException(status_code=400, detail=f"expiry must be 0..{MAX_SESSION_EXPIRY_S} s, got {expiry}")
    if len(files) != 1:
        raise HTTPException(status_code=400, detail=f"upload exactly one image file, got {len(files)}")
    suffix = upload_suffix(files[0].filename, IMAGE_SUFFIXES, "image")
    g = guards()

    def add() -> dict:
        from lib.label_check import read_grid

        with g.uploads.saved(files[0], suffix, "image") as upload:
            try:
                read_grid(str(upload))
            except ValueError as error:
                raise HTTPException(status_code=415, detail=str(error)) from None
            session_id, info = sessions.add_session(str(upload), expiry, False)
        return {"session_id": session_id, "session_info": info.to_json()}

    return await g.work.run(add)


# ---- models, training, strategies, scoring ---------------------------------------------------


@router.put("/model/{model}", summary="Refused: weights come from the server's own training", tags=["Model"])
async def update_model(model: str, user: User = ADMIN):
    raise HTTPException(status_code=403, detail="model upload is disabled on this server: weights are published "
                        "by its own training (see the README)")


@router.delete("/model/{model}", summary="Refused: weights come from the server's own training", tags=["Model"])
async def delete_model(model: str, user: User = ADMIN):
    raise HTTPException(status_code=403, detail="model delete is disabled on this server (see the README)")


@router.post("/train/{model}", summary="Start training one model (admin)", tags=["Train"])
async def train_model(model: str, params: Optional[dict] = None, run_sync: Optional[bool] = False,
                      enqueue: Optional[bool] = False, user: User = ADMIN):
    model = known(model, "trainer", app_instance().info().get("trainers", {}))
    refuse_run_sync(run_sync)
    params = body_params(params)
    if "name" in params:
        name(params["name"], "params name")
    return await guards().work.run(stock_train.run_model, model, params, False, bool(enqueue))


@router.post("/train/", include_in_schema=False)
async def train_all(params: Optional[dict] = None, run_sync: Optional[bool] = False, user: User = ADMIN):
    refuse_run_sync(run_sync)
    return await guards().work.run(stock_train.run, body_params(params), False)


@router.post("/activelearning/{strategy}", summary="Next sample by a strategy", tags=["ActiveLearning"])
async def next_sample(strategy: str, params: Optional[dict] = None, user: User = USER):
    strategy = known(strategy, "strategy", app_instance().info().get("strategies", {}))
    params = body_params(params)
    result = await guards().work.run(stock_activelearning.sample, strategy, params, user.username)
    guards().on_image_fetched(result.get("id") if isinstance(result, dict) else None, "next sample")
    return result


@router.post("/scoring/{method}", summary="Run a scoring method", tags=["Scoring"])
async def run_scoring(method: str, params: Optional[dict] = None, run_sync: Optional[bool] = False,
                      user: User = ANNOTATOR):
    method = known(method, "scoring method", app_instance().info().get("scoring", {}))
    refuse_run_sync(run_sync)
    return await guards().work.run(stock_scoring.run_method, method, body_params(params), False)


@router.post("/scoring/", include_in_schema=False)
async def run_scoring_all(params: Optional[dict] = None, run_sync: Optional[bool] = False, user: User = ANNOTATOR):
    refuse_run_sync(run_sync)
    return await guards().work.run(stock_scoring.run, body_params(params), False)


@router.post("/reload", include_in_schema=False)
async def reload(user: User = ADMIN):
    clear_cache()
    return {}


#: (path, method) of every MONAI Label route this module replaces, and the ones it drops.
REPLACED = {(route.path, method) for route in router.routes for method in route.methods}
DROPPED = {("/infer/wsi/{model}", "POST"), ("/infer/wsi_v2/{model}", "POST")}


__all__ = ["DROPPED", "REPLACED", "Guards", "guards", "known_image", "name", "router", "set_guards"]
