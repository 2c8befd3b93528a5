"""The radiotherapy contouring app: composes one TaskConfig per method; holds no method logic.

    monailabel start_server --app apps/radiotherapy --studies datastore [--conf models a,b]

``--conf`` options:
    models: comma-separated model names to load (default: every model that has weights).
    model_dir: where the server's own training writes and publishes weights
        (default: <app>/model). Shipped weights stay in models/ at the repository root.
        The annotation-time log is ``<model_dir>/annotation_events.jsonl``
        (``python -m lib.online.timing --log <that file>`` reports it).
    warmup: ``false`` skips the warm-up at start (``apps/radiotherapy/warmup.py``; default on).
    prefetch: ``false`` does not prepare an image for the click tasks when a client fetches it
        (next sample, download; ``apps/radiotherapy/prefetch.py``; default on).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # lib/, infers/, trainers/ live at the repository root
    sys.path.insert(0, str(REPO_ROOT))

from strategies.background import enter_background_priority, in_scoring_process  # noqa: E402

if in_scoring_process():  # MONAI Label's scoring job imports and builds the whole app: low priority first
    enter_background_priority()

from monailabel.interfaces.app import MONAILabelApp  # noqa: E402
from monailabel.interfaces.tasks.scoring import ScoringMethod  # noqa: E402
from monailabel.interfaces.tasks.strategy import Strategy  # noqa: E402

from apps.radiotherapy.active_learning import ActiveLearning  # noqa: E402
from apps.radiotherapy.configs import CONFIGS  # noqa: E402
from apps.radiotherapy.dicomweb import PacsDatastore, install_pacs_errors, is_dicomweb, open_pacs_datastore  # noqa: E402
from apps.radiotherapy.guards import install_guards  # noqa: E402
from apps.radiotherapy.guards.routes import guards  # noqa: E402
from apps.radiotherapy.guards.datastore import AtomicLocalDatastore, datastore_options  # noqa: E402
from apps.radiotherapy.http_errors import check_infer_request, install_http_errors  # noqa: E402
from apps.radiotherapy.ohif import install_ohif_route  # noqa: E402
from apps.radiotherapy.online import EVENTS_FILE, ONLINE, AnnotationEvents, start_online_training  # noqa: E402
from apps.radiotherapy.prefetch import Prefetcher  # noqa: E402
from apps.radiotherapy.warmup import start_warmup  # noqa: E402
from infers.answer import set_task_precision  # noqa: E402
from lib.labels import LABELS  # noqa: E402

logger = logging.getLogger(__name__)


def selected_models(conf: dict[str, str]) -> list[str]:
    """Names from ``--conf models a,b``; by default every model with weights."""
    requested = conf.get("models", "").strip()
    if not requested or requested == "all":
        return [name for name, config in CONFIGS.items() if config.has_weights()]
    names = [n.strip() for n in requested.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown} in --conf models; available: {sorted(CONFIGS)}")
    return names


def absolute_dir(path: str) -> str:
    """``path`` made absolute against the directory the server started in, once, at start.

    Every path the app keeps is absolute: ITK's lazy import changes the process's working
    directory for a moment (in whichever thread first touches ITK), and a relative path checked
    then names another file (2S-ICR's stage-1 weights went missing from ``/info`` that way).
    """
    return os.path.abspath(path)


def in_inference_thread(fn):
    """``fn()`` in a thread of the inference pool, which answers users (warm-up and prefetch go
    there so that its threads, not only their own, are warm: ``BoundedPool.call``)."""
    return guards().infer.call(fn)


class RadiotherapyApp(MONAILabelApp):
    """Interactive GTV and organ contouring (Slicer and OHIF clients)."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]):
        self.model_dir = absolute_dir(conf.get("model_dir") or os.path.join(app_dir, "model"))
        os.makedirs(self.model_dir, exist_ok=True)
        self.models = {}
        for name in selected_models(conf):
            config = CONFIGS[name]()
            config.init(name, self.model_dir, conf, None)
            self.models[name] = config
        logger.info(f"+++ Using models: {list(self.models)}")
        self.events = AnnotationEvents(Path(self.model_dir) / EVENTS_FILE)
        self.active_learning = ActiveLearning(self.model_dir, online=ONLINE in self.models)
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="Radiotherapy contouring",
            description="Automatic, click-based and slice-edit contouring of GTV and organs at risk",
            version="0.1.0",
            labels=sorted(LABELS, key=LABELS.get),  # a list, as OHIF's MONAI Label panel expects
        )

    def init_datastore(self):
        if is_dicomweb(self.studies):  # a PACS: whole-series cache, series checks, highdicom SEGs
            return open_pacs_datastore(self.studies)
        return AtomicLocalDatastore(self.studies, **datastore_options())  # MONAI Label's, written temp + rename

    def _download_dcmqi_tools(self):
        """Never: SEGs are written by highdicom (apps.radiotherapy.dicomweb), nothing is fetched."""

    def init_infers(self):
        infers = {}
        for config in self.models.values():
            infers.update(config.infer())
        infers.update(self.active_learning.infers())
        for task in infers.values():  # --conf precision: every click task's forward passes (lib.precision)
            set_task_precision(task, self.conf.get("precision"))
        return infers

    def init_trainers(self):
        return {name: t for name, config in self.models.items() if (t := config.trainer()) is not None}

    def init_strategies(self) -> dict[str, Strategy]:
        return self.active_learning.strategies()

    def init_scoring_methods(self) -> dict[str, ScoringMethod]:
        return self.active_learning.scoring_methods()

    def on_init_complete(self):
        install_http_errors()
        from monailabel.app import app

        self.prefetch = None if str(self.conf.get("prefetch", "true")).lower() in ("false", "0", "no", "off") \
            else Prefetcher(lambda: self._infers, self.datastore, in_inference_thread)
        install_guards(self.conf, LABELS, Path(self.model_dir) / "uploads", on_image_fetched=self.prefetch)
        install_ohif_route(app)
        install_pacs_errors(app)
        self._auto_update_scoring = False  # MONAI Label re-runs every scoring method after each next-sample
        super().on_init_complete()
        start_warmup(self, in_inference_thread)  # each served task's first pass, in a background thread
        online = self.models.get(ONLINE)
        if online is not None and (online.work_dir / "state.json").exists():
            start_online_training(reason="resuming the online training of an earlier server run", delay_s=3.0)

    def infer(self, request, datastore=None):
        datastore = datastore or self.datastore()
        if isinstance(datastore, PacsDatastore):
            datastore.check_image(request.get("image"))  # 4xx naming a non-CT or unknown series
        check_infer_request(request, self._infers, datastore)
        self.events.served(request.get("image"))
        return super().infer(request, datastore)

    def next_sample(self, request):
        result = super().next_sample(request)
        self.events.served(result.get("id") if isinstance(result, dict) else None)
        self.active_learning.score_in_background(self.datastore(), "next sample")
        return result

    def on_save_label(self, image_id, label_id):
        super().on_save_label(image_id, label_id)
        self.events.saved(image_id)
        if ONLINE in self.models:
            start_online_training(reason=f"label saved for {image_id}")
