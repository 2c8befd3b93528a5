"""The module's logic without Slicer or a server: segment mapping, the request, patching, undo, reports.

Masks are (K, J, I) bool arrays, as ``slicer.util.arrayFromSegmentBinaryLabelmap`` returns them.
"""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest
import SimpleITK as sitk

from apps.radiotherapy.launch import free_port
from SlicePropagationLib import (
    MonaiLabelClient, NoEdits, PropagationSession, ServerError, UndoStack, fallback_note, label_map, match_segments,
    model_labels, normalise_url, offers, parse_suggestion, patch_answer, propagation_models, report_lines,
    segment_masks,
)
from SlicePropagationLib.client import multipart, split_multipart
from SlicePropagationLib.workflow import datastore_id, safe_image_id
from tests.slicer_module.conftest import AFFINES

SHAPE = (6, 8, 10)  # (K, J, I)
LABELS = {"gtv": 1, "heart": 2}


def segments():
    """{segment id: mask} with a GTV, a heart and a segment the server does not know."""
    gtv, heart, notes = (np.zeros(SHAPE, bool) for _ in range(3))
    gtv[1:5, 2:6, 2:7] = True
    heart[1:4, 5:8, 7:10] = True
    notes[0, 0, 0] = True
    return {"Segment_1": gtv, "Segment_2": heart, "Segment_3": notes}, {"Segment_1": "GTV ", "Segment_2": "heart",
                                                                         "Segment_3": "notes"}


def session(reference=None):
    s = PropagationSession(MonaiLabelClient("127.0.0.1:1"), "slice_propagation", "phantom_0000", AFFINES["RAS"], SHAPE)
    if reference is not None:
        s.set_reference(reference)
    return s


def test_segments_map_to_server_labels_by_name_and_others_are_left_out():
    masks, names = segments()
    mapping = match_segments(names, {"background": 0, **LABELS})
    assert mapping == {"Segment_1": 1, "Segment_2": 2}
    label = label_map(masks, mapping)
    assert set(np.unique(label)) == {0, 1, 2} and label[0, 0, 0] == 0  # 'notes' is not sent
    back = segment_masks(label, mapping)
    np.testing.assert_array_equal(back["Segment_1"], masks["Segment_1"] & ~masks["Segment_2"])
    with pytest.raises(ValueError, match="both map to the server's label 1"):
        match_segments({"a": "gtv", "b": "GTV"}, LABELS)
    with pytest.raises(ValueError, match="no segment is named like"):
        label_map(masks, {})


def test_where_segments_overlap_the_larger_label_value_wins():
    masks, _ = segments()
    masks["Segment_1"][2, 6, 8] = True  # inside the heart too
    assert label_map(masks, {"Segment_1": 1, "Segment_2": 2})[2, 6, 8] == 2


def test_the_request_names_every_redrawn_slice_the_axis_and_the_redrawn_classes():
    masks, names = segments()
    mapping = match_segments(names, LABELS)
    s = session(label_map(masks, mapping))
    with pytest.raises(NoEdits, match="no slice was redrawn"):
        s.request(masks, mapping)
    masks["Segment_1"][3] = False  # slice k = 3 redrawn (numpy axis 0 is IJK axis 2)
    masks["Segment_1"][3, 3:5, 3:5] = True
    label, params, new, history, restarted = s.request(masks, mapping, params={"level": 2})
    assert params == {"level": 2, "slices": [3], "axis": 2, "classes": [1]} and new == [3] and not restarted
    np.testing.assert_array_equal(label, label_map(masks, mapping))
    s.history = history  # as accept() leaves it; a further edit adds to the list
    masks["Segment_2"][1] = False
    _, params, new, _, _ = s.request(masks, mapping, axis=2)
    assert params["slices"] == [3, 1] and new == [1, 3]
    assert params["classes"] == [1, 2]  # the heart erased on slice 1 joins the GTV redrawn before
    with pytest.raises(ValueError, match="no reference contour"):
        session().request(masks, mapping)
    with pytest.raises(ValueError, match="differs from the volume's"):
        session().set_reference(np.zeros((2, 2, 2), np.uint8))


def test_the_multipart_body_carries_the_params_and_the_label_file(tmp_path):
    path = tmp_path / "label.nii.gz"
    label = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) % 3
    sitk.WriteImage(sitk.GetImageFromArray(label), str(path))
    body, content_type = multipart({"params": '{"slices": [3], "axis": 2}'}, {"image": str(path)})
    result, (name, data) = split_multipart(body, content_type)
    assert result == {"slices": [3], "axis": 2} and name == "label.nii.gz"
    back = tmp_path / "back.nii.gz"
    back.write_bytes(data)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(back))), label)


def test_the_answer_replaces_mapped_segments_but_drawn_slices_stay_as_drawn():
    masks, names = segments()
    mapping = match_segments(names, LABELS)
    answer = np.zeros(SHAPE, np.uint8)
    answer[0:6, 2:6, 2:7] = 1  # the GTV grown through every slice, also through drawn slice 3
    patch = patch_answer(masks, answer, mapping, axis=2, drawn=[3])
    np.testing.assert_array_equal(patch.masks["Segment_1"][3], masks["Segment_1"][3])
    np.testing.assert_array_equal(patch.masks["Segment_1"][5], answer[5] == 1)
    heart = patch.masks["Segment_2"]  # the answer has no heart: emptied, but for the drawn slice
    assert not np.delete(heart, 3, axis=0).any() and np.array_equal(heart[3], masks["Segment_2"][3])
    assert "Segment_3" not in patch.masks  # never touched
    assert patch.changed_voxels["Segment_2"] == masks["Segment_2"].sum() - masks["Segment_2"][3].sum()
    assert patch.drawn_differences == int(((answer[3] == 1) != masks["Segment_1"][3]).sum() + masks["Segment_2"][3].sum())
    with pytest.raises(ValueError, match="has shape"):
        patch_answer(masks, answer[:2], mapping, 2, [1])


def test_undo_gives_back_the_masks_and_the_session_state():
    stack = UndoStack(limit=2)
    with pytest.raises(IndexError, match="nothing to undo"):
        stack.pop()
    masks, _ = segments()
    for n in range(3):
        stack.push({"a": masks["Segment_1"] ^ (n == 2)}, step=n)
    assert len(stack) == 2
    back, extra = stack.pop()
    assert extra == {"step": 2} and back["a"].dtype == bool
    np.testing.assert_array_equal(back["a"], ~masks["Segment_1"])
    assert stack.pop()[1] == {"step": 1} and len(stack) == 0


def test_accept_then_undo_restores_reference_and_history():
    from SlicePropagationLib.workflow import Outcome
    from SlicePropagationLib import EditHistory, Patch
    masks, names = segments()
    mapping = match_segments(names, LABELS)
    reference = label_map(masks, mapping)
    s = session(reference)
    after = {sid: np.zeros(SHAPE, bool) for sid in mapping}
    outcome = Outcome(Patch(after, {}, 0), 2, [3], [3], {}, [], None, 0.1, EditHistory(2, [3]),
                      {sid: masks[sid].copy() for sid in mapping})
    s.accept(outcome, mapping)
    assert s.history.slices == [3] and not s.reference.any() and len(s.undo_stack) == 1
    restored = s.undo()
    np.testing.assert_array_equal(restored["Segment_1"], masks["Segment_1"])
    np.testing.assert_array_equal(s.reference, reference)
    assert s.history.slices == [] and s.history.axis is None


def test_the_report_shows_every_key_the_server_returns_and_flags_a_fallback():
    result = {"edits": [{"steps": 5}], "fusion": "off: no fusion module for level 2", "path": "direct update",
              "changed": {"gtv": 120}, "seconds": 1.5, "label_names": {"gtv": 1}, "latencies": {"total": 1.2},
              "window": [[0, 4]]}
    lines = report_lines(result, request_seconds=2.0)
    assert lines[:4] == ["path: direct update", 'changed: {"gtv": 120}', "seconds: 1.5",
                         "fusion: off: no fusion module for level 2"]
    assert "edits: 1" in lines and "server seconds: 1.2" in lines and "window: [[0, 4]]" in lines
    assert lines[-1] == "round trip: 2.00 s" and not any("label_names" in line for line in lines)
    assert "path = direct update" in fallback_note(result)
    assert fallback_note({"fusion": "on: models/fusion.pt", "path": "fusion"}) is None


def test_a_suggestion_is_read_checked_and_skips_edited_slices():
    answer = {"axis": 2, "slices": [{"index": 4, "score": 0.9}, {"index": 7, "score": 0.5}], "model": "x"}
    suggestion = parse_suggestion(answer, (10, 8, 9), exclude=[4])
    assert suggestion.axis == 2 and suggestion.best == (7, 0.5)
    assert parse_suggestion({"result": answer}, (10, 8, 9)).best == (4, 0.9)
    with pytest.raises(ValueError, match="outside 0..8"):
        parse_suggestion({"axis": 2, "slices": [{"index": 9, "score": 1}]}, (10, 8, 9))
    with pytest.raises(ValueError, match="not already edited"):
        parse_suggestion(answer, (10, 8, 9), exclude=[4, 7])
    with pytest.raises(ValueError, match="is not"):
        parse_suggestion({"slices": []}, (10, 8, 9))


def test_info_lists_the_propagation_model_and_whether_the_suggestion_is_there():
    info = {"labels": ["gtv", "heart"], "models": {"segmentation": {"labels": {"gtv": 1, "heart": 2}},
                                                   "my_propagation": {}, "slice_propagation": {"labels": LABELS}}}
    assert propagation_models(info) == ["slice_propagation", "my_propagation"]
    assert model_labels(info, "slice_propagation") == LABELS and model_labels(info, "my_propagation") == LABELS
    assert not offers(info, "slice_suggestion") and offers({"models": {"slice_suggestion": {}}}, "slice_suggestion")


def test_server_addresses_and_image_ids():
    assert normalise_url("") == "http://127.0.0.1:8000"
    assert normalise_url(" 10.0.0.2:8000/ ") == "http://10.0.0.2:8000"
    assert normalise_url(":9000") == "http://127.0.0.1:9000"
    assert normalise_url("https://x.org") == "https://x.org"
    assert safe_image_id(" CT chest (1)/a ") == "CT_chest_1_a" and safe_image_id("..") == "volume"
    samples = {"phantom_0001": {"id": "phantom_0001", "VolumeNodeName": "phantom_0001"}}
    assert datastore_id("phantom_0001", samples) == "phantom_0001" and datastore_id("other", samples) is None


def test_a_server_that_is_down_is_named_in_the_error():
    port = free_port()
    with pytest.raises(ServerError, match=f"cannot reach the server at http://127.0.0.1:{port}") as error:
        MonaiLabelClient(f"127.0.0.1:{port}").info()
    assert error.value.status is None


def test_a_server_that_does_not_answer_times_out_with_a_message():
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    thread.start()
    try:
        client = MonaiLabelClient(f"127.0.0.1:{listener.getsockname()[1]}", timeout_s=(2.0, 0.5))
        with pytest.raises(ServerError, match=r"did not answer in 0.5 s"):
            client.info()
    finally:
        thread.join(timeout=5)
        for connection, _ in accepted:
            connection.close()
        listener.close()
