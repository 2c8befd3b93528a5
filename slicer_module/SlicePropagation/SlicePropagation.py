"""3D Slicer module: redraw slices in Segment Editor, get the whole 3D contour corrected by the server.
Module, Widget (GUI only), Logic (scene <-> arrays), Test. Everything that runs without Slicer
(geometry, payloads, the HTTP client, diffs, patching, undo) is in ``SlicePropagationLib``.
"""

from __future__ import annotations

import os
import traceback

import numpy as np
import qt
import slicer
import vtk
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule, ScriptedLoadableModuleLogic, ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from SlicePropagationLib import (
    MonaiLabelClient, NoEdits, PropagationSession, datastore_id, label_map, match_segments, model_labels, offers,
    propagation_models, read_label, safe_image_id, segment_masks, slice_centre_ras, view_axis, best_view,
    SUGGESTION_MODEL,
)

STOCK_URL_KEY, OWN_URL_KEY = "MONAILabel/serverUrl", "SlicePropagation/serverUrl"
AUTO_DELAY_MS = 1500  # "stop painting": this long without a segment change


class SlicePropagation(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        parent.title = "Slice Propagation"
        parent.categories = ["Active Learning"]
        parent.contributors = ["Radiotherapy contouring project"]
        parent.helpText = "Redraw slices in Segment Editor; Propagate corrects the whole 3D contour (MONAI Label)."


class SlicePropagationWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic, self.info, self._observed = None, {}, None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        widget = slicer.util.loadUI(self.resourcePath("UI/SlicePropagation.ui"))
        self.layout.addWidget(widget)
        self.ui = slicer.util.childWidgetVariables(widget)
        widget.setMRMLScene(slicer.mrmlScene)
        self.logic = SlicePropagationLogic()
        stock = slicer.util.settingsValue(STOCK_URL_KEY, "")
        self.ui.serverUrl.text = stock or slicer.util.settingsValue(OWN_URL_KEY, "http://127.0.0.1:8000")
        self.ui.viewSelector.addItems(["auto (from the changes)"] + list(slicer.app.layoutManager().sliceViewNames()))
        self.timer = qt.QTimer()
        self.timer.setSingleShot(True)
        self.timer.connect("timeout()", lambda: self.onPropagate(quiet=(NoEdits,)))
        self.ui.refreshButton.connect("clicked()", self.onRefresh)
        self.ui.propagateButton.connect("clicked()", self.onPropagate)
        self.ui.undoButton.connect("clicked()", self.onUndo)
        self.ui.referenceButton.connect("clicked()", self.onTakeReference)
        self.ui.nextSliceButton.connect("clicked()", self.onNextSlice)
        self.ui.volumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", lambda node: self._start())
        self.ui.segmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentationChanged)
        self.ui.nextSliceButton.visible = False

    def cleanup(self):
        self.removeObservers()

    def _guard(self, what, action, quiet=()):
        """Run ``action``; an error is shown once, naming what failed (``quiet`` ones only in the panel)."""
        qt.QApplication.setOverrideCursor(qt.Qt.WaitCursor)
        try:
            return action()
        except quiet as error:  # "propagate when I stop painting" after a change that redrew no slice
            self._report([str(error)])
        except Exception as error:  # the one place errors are caught: shown, never swallowed
            slicer.util.errorDisplay(f"{what} failed:\n{error}", detailedText=traceback.format_exc())
        finally:
            qt.QApplication.restoreOverrideCursor()
            self.ui.progressBar.value = 0

    def _progress(self, fraction):
        self.ui.progressBar.value = int(100 * fraction)
        slicer.app.processEvents()

    def _axis(self, volume):
        view = self.ui.viewSelector.currentText
        return None if view.startswith("auto") else self.logic.view_axis(view, volume)

    def onRefresh(self):
        def refresh():
            qt.QSettings().setValue(OWN_URL_KEY, self.ui.serverUrl.text)
            self.logic.set_server(self.ui.serverUrl.text)
            self.info = self.logic.client.info()
            self.ui.modelSelector.clear()
            self.ui.modelSelector.addItems(propagation_models(self.info))
            self.ui.nextSliceButton.visible = offers(self.info, SUGGESTION_MODEL)
            self.ui.statusLabel.text = f"{self.logic.client.url}: {self.ui.modelSelector.count} propagation model(s)"
        self._guard("Connecting to the server", refresh)
        self._start()

    def _start(self):  # the reference is taken as soon as volume, segmentation and server are known
        if self.info and self.ui.volumeSelector.currentNode() and self.ui.segmentationSelector.currentNode():
            self._guard("Taking the reference", self._session)

    def onSegmentationChanged(self, node):
        if self._observed is not None:
            self.removeObserver(self._observed, slicer.vtkSegmentation.SegmentModified, self.onSegmentsModified)
        self._observed = node
        if node is not None:
            self.addObserver(node, slicer.vtkSegmentation.SegmentModified, self.onSegmentsModified)
            self._start()

    def onSegmentsModified(self, caller=None, event=None):
        if self.ui.autoPropagate.checked and not self.logic.applying:
            self.timer.start(AUTO_DELAY_MS)

    def _session(self):
        if not self.info:
            raise ValueError("press Refresh to connect to the server first")
        volume, segmentation = self.ui.volumeSelector.currentNode(), self.ui.segmentationSelector.currentNode()
        if volume is None or segmentation is None:
            raise ValueError("choose the volume and the segmentation first")
        model = self.ui.modelSelector.currentText
        if not model:
            raise ValueError("the server lists no slice-propagation model: start it with --conf models slice_propagation")
        return self.logic.session(volume, segmentation, model, model_labels(self.info, model), self._progress)

    def onTakeReference(self):
        self._guard("Taking the reference", lambda: self._report(self.logic.take_reference(*self._session())))

    def onPropagate(self, quiet=()):
        def propagate():
            session, volume, segmentation, mapping = self._session()
            outcome = self.logic.propagate(session, volume, segmentation, mapping, self._axis(volume), self._progress)
            self._report(outcome.lines, outcome.note)
        self._guard("Propagation", propagate, quiet)

    def onUndo(self):
        self._guard("Undo", lambda: self._report(self.logic.undo(*self._session())))

    def onNextSlice(self):
        def suggest():
            session, volume, segmentation, mapping = self._session()
            self._report(self.logic.next_slice(session, volume, segmentation, mapping, self._axis(volume)))
        self._guard("Next slice to check", suggest)

    def _report(self, lines, note=None):
        self.ui.resultText.plainText = "\n".join(([f"WARNING: {note}"] if note else []) + list(lines))


class SlicePropagationLogic(ScriptedLoadableModuleLogic):
    """Scene <-> arrays for the plain-Python session; no GUI. ``applying``: segments being written."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        self.client, self.sessions, self.image_ids, self.applying = MonaiLabelClient(), {}, {}, False
        self.workdir = slicer.util.tempDirectory("SlicePropagation")

    def set_server(self, url):
        self.client, self.sessions, self.image_ids = MonaiLabelClient(url), {}, {}

    @staticmethod
    def geometry(volume):
        """(IJK-to-RAS (4, 4), the voxel array's (K, J, I) shape) of a volume node."""
        matrix = vtk.vtkMatrix4x4()
        volume.GetIJKToRASMatrix(matrix)
        return slicer.util.arrayFromVTKMatrix(matrix), slicer.util.arrayFromVolume(volume).shape

    def view_axis(self, view_name, volume):
        slice_node = slicer.app.layoutManager().sliceWidget(view_name).mrmlSliceNode()
        return view_axis(slicer.util.arrayFromVTKMatrix(slice_node.GetSliceToRAS()), self.geometry(volume)[0])[0]

    def image_id(self, volume, progress=None):
        """The volume's datastore id: the stock extension's sample, or the volume uploaded once."""
        if volume.GetID() not in self.image_ids:
            stock = getattr(getattr(slicer.modules, "monailabel", None), "widgetRepresentation", None)
            samples = getattr(stock().self(), "samples", {}) if stock else {}
            image_id = datastore_id(volume.GetName(), samples)
            if image_id is None:
                path = os.path.join(self.workdir, safe_image_id(volume.GetName()) + ".nii.gz")
                slicer.util.exportNode(volume, path)
                image_id = self.client.upload_image(path, safe_image_id(volume.GetName()), progress)
                os.remove(path)
            self.image_ids[volume.GetID()] = image_id
        return self.image_ids[volume.GetID()]

    def session(self, volume, segmentation, model, labels, progress=None):
        """(session, volume, segmentation, mapping) for the pair; a new session takes the segments as reference."""
        segments = segmentation.GetSegmentation()
        names = {segments.GetNthSegmentID(n): segments.GetNthSegment(n).GetName()
                 for n in range(segments.GetNumberOfSegments())}
        mapping = match_segments(names, labels)
        key = (volume.GetID(), segmentation.GetID(), model)
        if key not in self.sessions:
            ijk_to_ras, shape = self.geometry(volume)
            session = PropagationSession(self.client, model, self.image_id(volume, progress), ijk_to_ras, shape,
                                         self.workdir)
            session.set_reference(label_map(self.read_masks(volume, segmentation, mapping), mapping))
            self.sessions[key] = session
        return self.sessions[key], volume, segmentation, mapping

    @staticmethod
    def read_masks(volume, segmentation, mapping):
        return {sid: slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, sid, volume) > 0 for sid in mapping}

    def write_masks(self, volume, segmentation, masks):
        """Write every mask as ONE undoable step; on a failure the segments written so far are put back."""
        before = self.read_masks(volume, segmentation, masks)
        editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
        if editor.segmentationNode() is segmentation:
            editor.saveStateForUndo()
        self.applying, modifying = True, segmentation.StartModify()
        try:
            for sid, mask in masks.items():
                slicer.util.updateSegmentBinaryLabelmapFromArray(mask.astype(np.uint8), segmentation, sid, volume)
        except Exception:
            for sid, mask in before.items():
                slicer.util.updateSegmentBinaryLabelmapFromArray(mask.astype(np.uint8), segmentation, sid, volume)
            raise
        finally:
            segmentation.EndModify(modifying)
            self.applying = False

    def take_reference(self, session, volume, segmentation, mapping):
        session.set_reference(label_map(self.read_masks(volume, segmentation, mapping), mapping))
        return [f"reference taken: edits are now compared with the segments as they are ({sorted(mapping)})"]

    def propagate(self, session, volume, segmentation, mapping, axis=None, progress=None):
        """Send the redrawn slices, write the answer into the mapped segments; returns the Outcome."""
        outcome = session.propagate(self.read_masks(volume, segmentation, mapping), mapping, axis, progress=progress)
        self.write_masks(volume, segmentation, outcome.patch.masks)
        session.accept(outcome, mapping)
        return outcome

    def undo(self, session, volume, segmentation, mapping):
        self.write_masks(volume, segmentation, session.undo())
        return ["the last propagation was undone"]

    def next_slice(self, session, volume, segmentation, mapping, axis=None):
        """Ask the server for the slice worth checking and move the best-aligned slice view there."""
        label = label_map(self.read_masks(volume, segmentation, mapping), mapping)
        suggestion = session.suggest(label, axis)
        ijk_to_ras, shape = self.geometry(volume)
        index, score = suggestion.best
        point = slice_centre_ras(ijk_to_ras, shape[::-1], suggestion.axis, index)
        manager = slicer.app.layoutManager()
        nodes = {name: manager.sliceWidget(name).mrmlSliceNode() for name in manager.sliceViewNames()}
        name = best_view({n: slicer.util.arrayFromVTKMatrix(v.GetSliceToRAS()) for n, v in nodes.items()},
                         ijk_to_ras, suggestion.axis)
        nodes[name].JumpSliceByOffsetting(*point)
        others = ", ".join(f"{i} ({s:.3g})" for i, s in suggestion.slices[1:])
        return [f"slice {index} across axis {suggestion.axis}, score {score:.3g}: shown in the {name} view",
                f"next: {others or '-'}"]


class SlicePropagationTest(ScriptedLoadableModuleTest):
    """The workflow on a server with the demo datastore (SLICE_PROPAGATION_SERVER, default 127.0.0.1:8000)."""

    def setUp(self):
        slicer.mrmlScene.Clear(0)

    def runTest(self):
        self.setUp(), self.test_propagate_and_undo()

    def test_propagate_and_undo(self):
        logic, image_id = SlicePropagationLogic(), "phantom_0000"
        logic.set_server(os.environ.get("SLICE_PROPAGATION_SERVER", "http://127.0.0.1:8000"))
        info, work = logic.client.info(), logic.workdir
        model = propagation_models(info)[0]
        volume = slicer.util.loadVolume(logic.client.download_image(image_id, os.path.join(work, "image.nii.gz")))
        logic.image_ids[volume.GetID()] = image_id
        truth, _ = read_label(logic.client.download_label(image_id, "final", os.path.join(work, "truth.nii.gz")))
        auto, _ = read_label(logic.client.infer("segmentation", image_id, {}, out_dir=work)[0])
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
        segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
        for name in ("gtv", "heart", "notes"):
            segmentation.GetSegmentation().AddEmptySegment(name, name)
        labels = model_labels(info, model)
        logic.write_masks(volume, segmentation, {**segment_masks(auto, labels), "notes": auto == 2})
        session, _, _, mapping = logic.session(volume, segmentation, model, labels)
        masks = logic.read_masks(volume, segmentation, mapping)
        k = int(np.flatnonzero((truth == 1).any(axis=(1, 2))).mean())  # (K, J, I): axis 0 is k
        masks["gtv"][k], masks["heart"][k] = truth[k] == 1, masks["heart"][k] & (truth[k] != 1)
        logic.write_masks(volume, segmentation, masks)
        outcome = logic.propagate(session, volume, segmentation, mapping)
        after = logic.read_masks(volume, segmentation, mapping)
        self.assertEqual((outcome.axis, outcome.slices), (2, [k]))
        np.testing.assert_array_equal(after["gtv"][k], truth[k] == 1)

        def dsc(mask):
            return 2 * np.sum(mask & (truth == 1)) / (mask.sum() + np.sum(truth == 1))
        self.assertGreater(dsc(after["gtv"]), dsc(auto == 1))
        notes = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, "notes", volume) > 0
        np.testing.assert_array_equal(notes, auto == 2)  # a segment the server does not know is left alone
        logic.undo(session, volume, segmentation, mapping)
        np.testing.assert_array_equal(logic.read_masks(volume, segmentation, mapping)["gtv"], masks["gtv"])
        self.delayDisplay(f"Propagation: GTV DSC {dsc(auto == 1):.3f} -> {dsc(after['gtv']):.3f}; undo restored")
