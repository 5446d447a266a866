"""Figures drawn with pillow (no plotting library): :mod:`~refsim.plot.figures` (the tutorials'
and ``refsim plot``'s figures) on the drawing primitives of :mod:`~refsim.plot.canvas`."""
