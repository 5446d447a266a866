"""Tools built on the crossbar: networks, datasets and evaluation (:mod:`~refsim.tools.inference`),
image preprocessing (:mod:`~refsim.tools.preprocess`), converter-range calibration
(:mod:`~refsim.tools.calibrate`) and resumable accuracy sweeps (:mod:`~refsim.tools.sweep`)."""
