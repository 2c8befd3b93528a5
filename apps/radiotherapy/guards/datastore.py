"""MONAI Label's local datastore with crash-safe writes.

MONAI Label 0.8.5 copies a saved label or added image over its final name and rewrites
``datastore_v2.json`` in place, so a kill -9 during a save leaves a truncated file that the
restarted server serves as final (or a truncated index it cannot start from). Here every file
is written beside its final name under a hidden ``.partial`` name, flushed and renamed
(:mod:`lib.atomic`); ``.partial`` files a crash left are deleted at start.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from filelock import FileLock
from monailabel.datastore.local import DataModel, ImageLabelModel, LocalDatastore
from monailabel.interfaces.exception import ImageNotFoundException

from lib.atomic import copy_atomically, remove_partials, write_text_atomically

logger = logging.getLogger(__name__)


class AtomicLocalDatastore(LocalDatastore):
    """``LocalDatastore`` whose images, labels and index are written temp + rename."""

    def __init__(self, datastore_path: str, **kwargs: Any) -> None:
        removed = remove_partials(datastore_path)
        if removed:
            logger.warning(f"removed {len(removed)} partial file(s) left by an interrupted write: {removed[:5]}")
        super().__init__(datastore_path, **kwargs)
        handler = getattr(self, "_handler", None)  # MONAI Label's watchdog handler (auto_reload only)
        if handler is not None:
            # our index is replaced by a rename, which watchdog reports as a move, not a modification:
            # without this, an index written by a task process (scoring, training) is never re-read
            handler.on_moved = self._on_index_replaced

    def _on_index_replaced(self, event: Any) -> None:
        if getattr(event, "dest_path", None) != self._datastore_config_path:
            return
        if self._ignore_event_config:  # this process's own write
            self._ignore_event_config = False
            return
        self._init_from_datastore_file()

    def add_image(self, image_id: str, image_filename: str, image_info: dict[str, Any]) -> str:
        id_, image_ext = self._to_id(os.path.basename(image_filename))
        image_id = image_id or id_
        name = self._filename(image_id, image_ext)
        dest = os.path.join(self._datastore.image_path(), name)
        with FileLock(self._lock_file):
            copy_atomically(image_filename, dest)
            info = dict(image_info or {}, ts=int(time.time()), name=name)
            self._datastore.objects[image_id] = ImageLabelModel(image=DataModel(info=info, ext=image_ext))
            self._update_datastore_file(lock=False)
        logger.info(f"added image {image_id} as {dest}")
        return image_id

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any]) -> str:
        obj = self._datastore.objects.get(image_id)
        if not obj:
            raise ImageNotFoundException(f"Image {image_id} not found")
        _, label_ext = self._to_id(os.path.basename(label_filename))
        name = self._filename(image_id, label_ext)
        dest = os.path.join(self._datastore.label_path(label_tag), name)
        with FileLock(self._lock_file):
            previous = obj.labels.get(label_tag)
            copy_atomically(label_filename, dest)
            if previous is not None and previous.ext != label_ext:  # saved before with another suffix
                stale = os.path.join(self._datastore.label_path(label_tag), self._filename(image_id, previous.ext))
                if os.path.exists(stale):
                    os.unlink(stale)
            info = dict(label_info or {}, ts=int(time.time()), name=name)
            obj.labels[label_tag] = DataModel(info=info, ext=label_ext)
            self._update_datastore_file(lock=False)
        logger.info(f"saved label {image_id} ({label_tag}) as {dest}")
        return image_id

    def _update_datastore_file(self, lock: bool = True) -> None:
        def write() -> None:
            self._ignore_event_config = True
            text = json.dumps(self._datastore.model_dump(exclude={"base_path"}), indent=2, default=str)
            write_text_atomically(self._datastore_config_path, text)
            self._config_ts = os.stat(self._datastore_config_path).st_mtime

        if lock:
            with FileLock(self._lock_file):
                write()
        else:
            write()


def datastore_options() -> dict[str, Any]:
    """MONAI Label's own ``LocalDatastore`` options from its settings (as ``init_datastore`` passes them)."""
    from monailabel.config import settings

    return {
        "extensions": settings.MONAI_LABEL_DATASTORE_FILE_EXT,
        "auto_reload": settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
        "read_only": settings.MONAI_LABEL_DATASTORE_READ_ONLY,
    }
