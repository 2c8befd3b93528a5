"""Image preparation every method uses: model space in and out (:mod:`lib.imaging.prepare`) and
intensity policies per input (:mod:`lib.imaging.intensity`)."""
