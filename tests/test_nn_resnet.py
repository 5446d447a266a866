"""ResNets (torchvision layout) and CIFAR ResNets: import checks, ideal == digital, BN folding."""
import numpy as np
import pytest

import refsim
from refsim.nn import cifar_resnet_from_state_dict, layer_report, resnet_from_state_dict
from refsim.nn.cifar_resnet import cifar_resnet_param_shapes
from refsim.nn.resnet import RESNET_LAYOUTS, infer_resnet_depth, resnet_param_shapes
from refsim.nn.statedict import random_params
from checks import cifar_images, ideal, load_checkpoint, rel_err
from tolerances import RTOL_EXACT

#: BN folding changes the order of operations: conv(x, W*a) + b' vs (conv(x, W) - mu) * a + beta.
RTOL_FOLD = 1e-11


@pytest.mark.parametrize("depth", sorted(RESNET_LAYOUTS))
def test_depth_is_inferred_from_keys(depth):
    shapes = resnet_param_shapes(depth)
    assert infer_resnet_depth(shapes) == depth
    n_params = sum(int(np.prod(s)) for k, s in shapes.items() if "running" not in k)
    # torchvision's published parameter counts (BN gamma/beta included, buffers excluded)
    published = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
    assert n_params == published[depth]


def test_resnet18_ideal_equals_digital_and_records():
    sd = random_params(resnet_param_shapes(18, num_classes=7), np.random.default_rng(0))
    analog = {"conv1", "layer1.0.conv1", "layer2.0.downsample.0", "layer4.1.conv2"}  # keep the test fast
    net = resnet_from_state_dict(sd, config=lambda name: ideal() if name in analog else None, seed=1)
    x = np.random.default_rng(1).normal(size=(2, 3, 64, 64))
    rec = {}
    y = net.forward(x, records=rec)
    assert y.shape == (2, 7)
    assert rel_err(y, net(x, digital=True)) < RTOL_EXACT
    assert list(rec) == list(net.layers())
    assert {name for name, r in rec.items() if r.analog} == analog
    assert net.n_arrays == sum(r.n_arrays for r in rec.values()) > 0
    folded = resnet_from_state_dict(sd, fold_bn=True)
    assert rel_err(folded(x), y) < RTOL_FOLD


def test_state_dict_errors_name_keys_and_shapes():
    sd = random_params(resnet_param_shapes(18), np.random.default_rng(0))
    bad = dict(sd)
    bad["layer1.0.conv1.weight"] = np.zeros((64, 64, 1, 1))
    with pytest.raises(ValueError, match=r"'layer1.0.conv1.weight': shape \(64, 64, 1, 1\) .* \(64, 64, 3, 3\)"):
        resnet_from_state_dict(bad)
    missing = {k: v for k, v in sd.items() if k != "layer3.0.downsample.1.running_var"}
    with pytest.raises(ValueError, match=r"missing keys \['layer3.0.downsample.1.running_var'\]"):
        resnet_from_state_dict(missing)
    with pytest.raises(ValueError, match=r"unexpected keys \['extra.weight'\]"):
        resnet_from_state_dict(dict(sd, **{"extra.weight": np.zeros(1)}))
    with pytest.raises(ValueError, match="matches no torchvision ResNet"):
        resnet_from_state_dict({k: v for k, v in sd.items() if not k.startswith("layer4.1.")})
    # num_batches_tracked buffers are accepted and ignored
    resnet_from_state_dict(dict(sd, **{"bn1.num_batches_tracked": np.array(3)}))


def test_cifar_resnet20_structure_ideal_fold_and_prefix():
    sd = random_params(cifar_resnet_param_shapes(20), np.random.default_rng(2))
    net = cifar_resnet_from_state_dict({"module." + k: v for k, v in sd.items()}, config=ideal())
    assert net.depth == 20 and len(net.layers()) == 20  # 19 convs + linear
    x = np.random.default_rng(3).normal(size=(2, 3, 32, 32))
    y = net(x)
    assert rel_err(y, net(x, digital=True)) < RTOL_EXACT
    assert rel_err(cifar_resnet_from_state_dict(sd, fold_bn=True)(x), y) < RTOL_FOLD
    bad = dict(sd, **{"linear.weight": np.zeros((10, 32))})
    with pytest.raises(ValueError, match=r"'linear.weight': shape \(10, 32\) .* \(10, 64\)"):
        cifar_resnet_from_state_dict(bad)
    _, rows = layer_report(net, x[:1])
    assert [r.name for r in rows] == list(net.layers())
    assert all(r.analog and r.rel_error < RTOL_EXACT for r in rows)


def test_option_a_shortcut_subsamples_and_pads_channels():
    from refsim.nn.blocks import option_a_shortcut

    x = np.random.default_rng(4).normal(size=(1, 16, 8, 8))
    s = option_a_shortcut(32)(x, False, None)
    assert s.shape == (1, 32, 4, 4)
    assert np.array_equal(s[:, 8:24], x[:, :, ::2, ::2])
    assert not s[:, :8].any() and not s[:, 24:].any()


@pytest.mark.slow
def test_pretrained_resnet20_ideal_matches_digital_and_published_accuracy():
    sd = load_checkpoint("resnet20-12fca82f.th")
    x, labels = cifar_images(64)
    net = cifar_resnet_from_state_dict(sd, config=refsim.presets.get("ideal"))
    y = net(x)
    assert rel_err(y, net(x, digital=True)) < RTOL_EXACT
    acc = float(np.mean(y.argmax(axis=1) == labels))
    # published top-1 on the 932-image subset is 91.6 %; 64 images: allow ~3 sigma of sampling error
    assert acc >= 0.80, acc


def test_noisy_network_is_reproducible_and_seed_dependent():
    """Same seed -> same result whatever else was built before; another seed -> different noise."""
    if "aihwkit_noise_managed" not in refsim.presets.names():
        pytest.skip("no noisy preset registered")
    cfg = refsim.presets.get("aihwkit_noise_managed")
    sd = random_params(cifar_resnet_param_shapes(8), np.random.default_rng(5))  # smallest: keeps the test fast
    x = np.random.default_rng(6).normal(size=(1, 3, 32, 32))
    y1 = cifar_resnet_from_state_dict(sd, config=cfg, seed=7)(x)
    cifar_resnet_from_state_dict(sd, config=cfg, seed=8)  # unrelated construction in between
    y2 = cifar_resnet_from_state_dict(sd, config=cfg, seed=7)(x)
    y3 = cifar_resnet_from_state_dict(sd, config=cfg, seed=8)(x)
    assert np.array_equal(y1, y2)
    assert not np.array_equal(y1, y3)
