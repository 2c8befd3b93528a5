"""Image preparation every method uses: model space in and out (:mod:`lib.imaging.prepare`) and
intensity policies per input (:mod:`lib.imaging.intensity`) and padded box cuts (:mod:`lib.imaging.crop`)."""
