"""Training in NumPy: backward passes of every layer refsim has (issue 18, deliverable 1).

Each operation is a pair of pure functions, ``y, cache = op_forward(...)`` and
``grads = op_backward(dy, cache)``, next to the forward it differentiates and with its
equations in the docstring (collected in docs/training.md):

* :mod:`refsim.train.functional_grad`: ReLU, pooling, BatchNorm (training mode, running
  statistics), residual addition, option-A shortcut, softmax cross-entropy;
* :mod:`refsim.train.layers_grad`: Linear and Conv2d (stride, padding, dilation, groups), with
  the straight-through convention for a crossbar in the forward;
* :mod:`refsim.train.lstm_grad`: LSTM, backpropagation through time;
* :mod:`refsim.train.attention_grad`: multi-head attention;
* :mod:`refsim.train.resnet_grad`: a whole CIFAR ResNet in training mode;
* :mod:`refsim.train.gradcheck`: central finite differences and the error measure the tests use.

Hardware-aware training (issue 18, deliverables 2-3; docs/MODEL.md section 11, N1-N9):

* :mod:`refsim.train.hwa`: the HWA forward of one analog layer (Rasch et al. 2023) on the
  inference's own physics functions, its straight-through backward, the learned input range;
* :mod:`refsim.train.net`: the CIFAR ResNet for training (channels-last, float32, FP or HWA);
* :mod:`refsim.train.loop`: the loop of ``refsim train`` (SGD, schedules, augmentation,
  atomic checkpoints, bit-exact resumption).
"""
from refsim.train import attention_grad, functional_grad, gradcheck, hwa, layers_grad, loop, lstm_grad, net, resnet_grad

__all__ = ["attention_grad", "functional_grad", "gradcheck", "hwa", "layers_grad", "loop", "lstm_grad", "net",
           "resnet_grad"]
