"""Neural-network layers and networks whose weight matmuls run on crossbars."""
from refsim.nn.conv import Conv2d
from refsim.nn.engine import LayerRecord, crossbar_rng, resolve_config
from refsim.nn.linear import Linear
from refsim.nn.lstm import LSTM

__all__ = ["Conv2d", "LSTM", "LayerRecord", "Linear", "crossbar_rng", "resolve_config"]
