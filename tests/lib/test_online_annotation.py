"""The corrective annotation format: conversion to training targets, checks, simulated corrections."""

from __future__ import annotations

import numpy as np
import pytest

from lib.online.annotation import (
    ANNOTATED_BACKGROUND,
    NOT_ANNOTATED,
    check_annotation,
    corrected_label,
    correction_from_prediction,
    to_training_target,
)


def test_corrective_annotation_gives_classes_and_annotated_mask():
    annotation = np.array([NOT_ANNOTATED, 1, 2, ANNOTATED_BACKGROUND], dtype=np.uint8).reshape(1, 1, 4)
    classes, annotated = to_training_target(annotation, full=False)
    assert classes.dtype == np.int64 and annotated.dtype == bool
    assert classes.ravel().tolist() == [0, 1, 2, 0]
    assert annotated.ravel().tolist() == [False, True, True, True]


def test_full_label_is_annotated_everywhere_with_zero_as_background():
    label = np.array([0, 1, 2, 0], dtype=np.uint8).reshape(1, 1, 4)
    classes, annotated = to_training_target(label, full=True)
    assert classes.ravel().tolist() == [0, 1, 2, 0]
    assert annotated.all()


def test_check_annotation_names_what_is_wrong():
    good = np.zeros((4, 4, 2), dtype=np.uint8)
    good[0, 0, 0] = ANNOTATED_BACKGROUND
    check_annotation(good, (4, 4, 2))
    check_annotation(good, (4, 4, 2, 2))  # channels of a CT + PET image are ignored
    with pytest.raises(ValueError, match="shape"):
        check_annotation(good, (4, 4, 3))
    with pytest.raises(ValueError, match="0..3"):
        check_annotation(good + 2, (4, 4, 2))
    with pytest.raises(ValueError, match="no annotated voxel"):
        check_annotation(np.zeros((4, 4, 2)), (4, 4, 2))
    check_annotation(np.zeros((4, 4, 2)), (4, 4, 2), full=True)  # all background is a full label
    with pytest.raises(ValueError, match="0..2"):
        check_annotation(good, (4, 4, 2), full=True)


def _prediction_and_truth():
    truth = np.zeros((6, 6, 4), dtype=np.uint8)
    truth[1:3, 1:3, :] = 1  # GTV the prediction misses
    truth[4, 4, 0] = 2
    prediction = np.zeros_like(truth)
    prediction[4, 4, 0] = 2
    prediction[5, 0, 3] = 2  # false heart outside the box below
    prediction[0, 5, 1] = 1  # false GTV inside
    return prediction, truth


def test_correction_paints_true_class_where_wrong_everywhere():
    prediction, truth = _prediction_and_truth()
    correction = correction_from_prediction(prediction, truth)
    assert correction[1, 1, 0] == 1
    assert correction[5, 0, 3] == ANNOTATED_BACKGROUND and correction[0, 5, 1] == ANNOTATED_BACKGROUND
    assert correction[4, 4, 0] == NOT_ANNOTATED  # already right
    assert int((correction != 0).sum()) == int((prediction != truth).sum())
    np.testing.assert_array_equal(corrected_label(prediction, correction), truth)


def test_correction_inside_a_box_only():
    prediction, truth = _prediction_and_truth()
    box = (slice(0, 3), slice(0, 6), slice(0, 4))
    correction = correction_from_prediction(prediction, truth, box)
    assert correction[5, 0, 3] == NOT_ANNOTATED  # wrong but outside the box
    assert correction[0, 5, 1] == ANNOTATED_BACKGROUND and correction[2, 2, 3] == 1
    after = corrected_label(prediction, correction)
    np.testing.assert_array_equal(after[box], truth[box])
    np.testing.assert_array_equal(after[3:], prediction[3:])
