import math

import matplotlib
import matplotlib.image
import pytest
from PIL import Image

from reusebench.protocol import GROUPS
from reusebench.report import figures


def read(path):
    """The image as an array, after checking PIL agrees it is a whole PNG."""
    with Image.open(path) as im:
        im.verify()
    image = matplotlib.image.imread(path)
    assert image[..., :3].std() > 0.05, "not a blank image"
    return image


@pytest.fixture(autouse=True)
def no_figure_left_open():
    yield
    assert figures.plt.get_fignums() == [], "every figure is closed after saving"


def test_the_backend_is_agg():
    assert matplotlib.get_backend().lower() == "agg"


def test_layer_map_with_missing_non_finite_and_out_of_scale_cells(tmp_path):
    rows = [f"block.{i}.conv" for i in range(12)]
    grid = [[None if (i + j) % 3 == 0 else [math.nan, math.inf, 1.8, -0.3, 0.05, 0.5][(i * j) % 6] for j in range(len(GROUPS))]
            for i in range(len(rows))]
    path = figures.layer_map(tmp_path / "map.png", title="t", rows=rows, columns=list(GROUPS),
                             panels={"init (re-initialisation)": grid, "rerandom (re-randomisation)": grid})
    height, width = read(path).shape[:2]
    assert path == tmp_path / "map.png" and width > 800 and height > 12 * 25
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]


def test_layer_map_grows_with_the_number_of_layers(tmp_path):
    def draw(n):
        grid = [[0.2] * len(GROUPS) for _ in range(n)]
        return read(figures.layer_map(tmp_path / f"m{n}.png", title="t", rows=[f"l{i}" for i in range(n)],
                                      columns=list(GROUPS), panels={"init": grid})).shape[0]

    assert draw(30) > draw(3) + 20 * 27 * 0.8


def test_layer_map_of_nothing_applicable(tmp_path):
    read(figures.layer_map(tmp_path / "m.png", title="t", rows=["a"], columns=list(GROUPS), panels={"init": [[None] * len(GROUPS)]}))


def test_learning_curves_survive_nan_empty_curves_and_no_target(tmp_path):
    runs = [("scratch", 0, [(0, 0.1), (10, math.nan), (20, 0.3)]), ("all", 0, [(0, 0.2), (10, math.inf), (20, 0.5)]),
            ("all", 1, []), ("conv", 1, [(0, 0.15), (20, 0.45)])]
    for target in (0.6, math.nan, None):
        height, width = read(figures.learning_curves(tmp_path / "c.png", title="t", metric="dice", runs=runs, target=target)).shape[:2]
        assert width > 600 and height > 400


def test_rmse_scatter_survives_nan_and_uses_log_scale_for_wide_ranges(tmp_path):
    series = [("other_task (ρ = 0.50)", [1e-4, 1e-2, 0.3, math.nan], [0.0, 0.2, 1.4, 0.5]),
              ("other_seed (ρ = non-finite)", [math.nan], [math.nan])]
    height, width = read(figures.rmse_scatter(tmp_path / "s.png", title="t", series=series)).shape[:2]
    assert width > 500 and height > 350


def test_save_figure_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "f.png"
    target.write_bytes(b"old")
    fig, _ = figures.plt.subplots()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError):
        figures.save_figure(fig, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"], "no temporary file left behind"


def test_learning_curves_of_many_seeds_have_one_legend_entry_per_variant(tmp_path, monkeypatch):
    """Twenty seeds x three datasets once made a legend of 60 entries taller than the plot."""
    legends = []
    real_save = figures.save_figure

    def spy(fig, path):
        legends.append([t.get_text() for t in fig.axes[0].get_legend().get_texts()])
        return real_save(fig, path)

    monkeypatch.setattr(figures, "save_figure", spy)
    runs = [(dataset, seed, [(0, 0.1), (10, 0.5)]) for dataset in ("shapes", "nuclei") for seed in range(20)]
    figures.learning_curves(tmp_path / "c.png", title="t", metric="dice", runs=runs, target=0.6, legend="dataset (seed)")
    assert legends == [["shapes (20 runs)", "nuclei (20 runs)", "fully trained target (test)"]]
    few = [(v, s, c) for v, s, c in runs if s < 3]
    figures.learning_curves(tmp_path / "d.png", title="t", metric="dice", runs=few, target=None)
    assert len(legends[1]) == 6 and legends[1][0] == "shapes (seed 0)"
