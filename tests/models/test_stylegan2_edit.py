"""Reading a StyleGAN2 generator: SeFa directions (against an eigendecomposition), traversals
and inversion (a generated image is recovered)."""

import torch
import torch.nn.functional as F

from hsilib.models import stylegan2, stylegan2_edit


def _tiny_generator(bands=3):
    torch.manual_seed(0)
    return stylegan2.Generator(32, bands, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64,
                               channel_max=8).eval()


def test_sefa_directions_are_orthonormal_top_eigenvectors():
    torch.manual_seed(0)
    A = torch.randn(24, 10)
    dirs, vals = stylegan2_edit.sefa(A, k=4, normalize=False)
    assert torch.allclose(dirs @ dirs.T, torch.eye(4), atol=1e-5)
    M = (A.T @ A).double()
    ref = torch.linalg.eigvalsh(M).flip(0)[:4]
    assert torch.allclose(vals.double(), ref, rtol=1e-5)
    assert torch.allclose(M @ dirs.double().T, dirs.double().T * vals.double(), atol=1e-4)
    # the first direction maximises ||A n|| over unit vectors (checked against random ones)
    rand = F.normalize(torch.randn(500, 10), dim=1)
    assert (A @ dirs[0]).norm() >= (A @ rand.T).norm(dim=0).max() - 1e-5
    # on a generator: rows from the first style layer's affine weights
    G = stylegan2.Generator(32, 3, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64,
                            channel_max=8)
    d, _ = stylegan2_edit.sefa_directions(G, k=3)
    W = G.style_layers()[0].affine.effective_weight().detach()
    W = W / W.norm(dim=1, keepdim=True)
    want = torch.linalg.eigh((W.T @ W).double()).eigenvectors.flip(1)[:, :3].T.float()
    assert torch.allclose((d * want).sum(1).abs(), torch.ones(3), atol=1e-4)


def test_traversal_moves_w_along_the_direction_and_w_spread_is_its_sd():
    G = _tiny_generator()
    with torch.no_grad():
        w = G.mapping(torch.randn(2, 8))
        imgs = stylegan2_edit.traverse(G, w, torch.eye(8)[0], [0.0, 1.5])
        moved = w + 1.5 * torch.eye(8)[0]
        want = [G.synthesis(v[:, None].repeat(1, G.n_ws, 1), noise="none") for v in (w, moved)]
        sd = stylegan2_edit.w_spread(G, torch.eye(8)[:2], n=200, seed=4)
        ws = G.mapping(torch.randn(200, 8, generator=torch.Generator().manual_seed(4)))
    assert imgs.shape == (2, 2, 3, 32, 32)
    assert torch.allclose(imgs[0], want[0]) and torch.allclose(imgs[1], want[1], atol=1e-6)
    assert torch.allclose(sd, ws[:, :2].std(0))


def test_projection_recovers_a_generated_image():
    G = _tiny_generator(4)
    with torch.no_grad():
        target = G.synthesis(G.ws(torch.randn(2, 8)), noise="none")
    res = stylegan2_edit.project(G, target, steps=60, lr=0.1, space="w+")
    start = F.mse_loss(G.synthesis(res["ws"][:, :1].expand(-1, G.n_ws, -1) * 0
                                   + G.mapping(torch.randn(1000, 8)).mean(0), noise="none"),
                       target)
    assert res["loss"][-1] < 0.2 * start.item()
    err = stylegan2_edit.reconstruction_errors(target, target)
    assert err["rmse_band"].max() == 0 and err["sam_image"].max() < 1e-6
