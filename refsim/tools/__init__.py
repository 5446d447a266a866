"""Tools built on the crossbar: networks, datasets and evaluation (:mod:`~refsim.tools.inference`),
image preprocessing (:mod:`~refsim.tools.preprocess`), BERT's WordPiece tokenizer
(:mod:`~refsim.tools.wordpiece`), sentence embeddings and the STS Benchmark
(:mod:`~refsim.tools.sts`), converter-range calibration
(:mod:`~refsim.tools.calibrate`) and resumable accuracy sweeps (:mod:`~refsim.tools.sweep`)."""
