import torch
from torch import nn

from reusebench.recalibrate import adabn


def test_adabn_estimates_the_data_statistics_and_restores_modes():
    model = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.BatchNorm2d(2))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    model.eval()
    images = torch.randn(64, 1, 4, 4) * 3 + 5
    adabn(model, images, batch_size=16, device=torch.device("cpu"))
    bn = model[1]
    assert torch.allclose(bn.running_mean, images.mean().expand(2), atol=1e-4)
    assert torch.allclose(bn.running_var, images.var().expand(2), rtol=0.05)
    assert not model.training and not bn.training and bn.momentum == 0.1


def test_adabn_survives_a_trailing_batch_of_one_on_pspnet():
    from reusebench.models import build_model

    model = build_model("pspnet", seed=0, width=4, depth=2).eval()
    adabn(model, torch.rand(17, 1, 32, 32), batch_size=16, device=torch.device("cpu"))  # 16 + 1 -> one batch of 17
    assert all(torch.isfinite(m.running_var).all() for m in model.modules() if isinstance(m, nn.BatchNorm2d))
