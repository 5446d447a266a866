"""Neural-network layers and networks whose weight matmuls run on crossbars.

Layers hold no physics: every weight matrix is programmed onto a
:class:`refsim.Crossbar` (or kept exact with ``config=None``); pooling,
activations, normalization and residual adds are digital and exact
(:mod:`refsim.nn.functional`). See docs/layers.md.
"""
from refsim.nn import functional
from refsim.nn.attention import AttentionCore, MultiheadAttention
from refsim.nn.bert import BertEncoder
from refsim.nn.cifar_resnet import CifarResNet, cifar_resnet_from_state_dict
from refsim.nn.conv import Conv2d
from refsim.nn.engine import LayerRecord, crossbar_rng, resolve_config
from refsim.nn.linear import Linear
from refsim.nn.lstm import LSTM
from refsim.nn.report import LayerReport, layer_report
from refsim.nn.resnet import ResNet, resnet_from_state_dict
from refsim.nn.tflite_net import QuantizedNet
from refsim.nn.textgenrnn import TextgenRNN
from refsim.nn.transformer import TransformerEncoderLayer

__all__ = [
    "AttentionCore",
    "BertEncoder",
    "CifarResNet",
    "Conv2d",
    "LSTM",
    "LayerRecord",
    "LayerReport",
    "Linear",
    "MultiheadAttention",
    "QuantizedNet",
    "ResNet",
    "TextgenRNN",
    "TransformerEncoderLayer",
    "cifar_resnet_from_state_dict",
    "crossbar_rng",
    "functional",
    "layer_report",
    "resnet_from_state_dict",
    "resolve_config",
]
