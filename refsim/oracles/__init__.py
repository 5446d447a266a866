"""Deliberately naive reference implementations for the tests and tutorials: the exact integer
oracle of a quantized crossbar and float64 loops (:mod:`~refsim.oracles.crossbar`), and scalar-loop
oracles of the layers (:mod:`~refsim.oracles.nn`). Nothing here calls the code it checks."""
