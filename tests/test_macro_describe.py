"""Macro architectures (ENAS) as text and as a drawing: the table `nasrl show` prints, the one-line DNA, the graph."""

from nasrl.nets import builder
from nasrl.report.figures import architecture_graph
from nasrl.space import OPERATIONS, SearchSpace, Token, zoo
from nasrl.space.describe import dna_string, layer_columns, layer_rows, layer_table, macro_widths

TINY = SearchSpace("tiny", 5, (Token("op", OPERATIONS),), True, 8, (1, 3))
# L2 skips the stem; L4 the stem and L2 across the first reduction; L5 reads L1 and L3 across both.
ARCH = TINY.architecture(
    [{"op": op} for op in ("sep3x3", "conv5x5", "maxpool3x3", "avgpool3x3", "sep7x7")],
    [[], [0], [], [0, 2], [1, 3]],
).validate(TINY)


def test_macro_table_names_operations_widths_skips_and_reductions():
    assert layer_table(ARCH) == (
        "layer  operation   width  skips\n"
        "-----  ----------  -----  -------\n"
        "L1     sep3x3      8      -\n"
        "L2     conv5x5     8      stem\n"
        "-- reduce x2 after layer 2: half the height and width, 8 -> 16 wide\n"
        "L3     maxpool3x3  16     -\n"
        "L4     avgpool3x3  16     stem,L2\n"
        "-- reduce x2 after layer 4: half the height and width, 16 -> 32 wide\n"
        "L5     sep7x7      32     L1,L3"
    )
    assert layer_columns(ARCH) == ("layer", "operation", "width", "skips")
    assert all(len(row) == 4 for row in layer_rows(ARCH))


def test_macro_dna_string_marks_skips_and_reductions():
    assert dna_string(ARCH) == "sep3x3 | conv5x5+0 /2 | maxpool3x3 | avgpool3x3+0,2 /2 | sep7x7+1,3"


def test_table_widths_are_the_builders_final_form_widths():
    # A reduction after the last layer, one after the first, none at all: the table follows the builder each time.
    for reductions in ((1, 3), (0, 4), ()):
        space = SearchSpace("tiny", 5, TINY.tokens, True, 8, reductions)
        arch = space.architecture([layer.as_dict for layer in ARCH.layers], [la.inputs for la in ARCH.layers])
        assert macro_widths(arch) == builder.build(arch).widths
        assert [row[2] for row in layer_rows(arch)] == [str(w) for w in macro_widths(arch)]


def test_zoph_table_and_dna_are_unchanged():
    assert layer_table(zoo.SEED_BASELINE) == (
        "layer  kernel  filters  stride  pool  inputs\n"
        "-----  ------  -------  ------  ----  ------\n"
        "C1     3x3     64       1x1     1     image\n"
        "C2     3x3     64       1x1     2     C1\n"
        "C3     5x5     128      1x1     1     C2\n"
        "C4     3x3     128      1x1     2     C3"
    )
    assert layer_columns(zoo.SEED_BASELINE) == ("layer", "kernel", "filters", "stride", "pool", "inputs")
    assert dna_string(zoo.SEED_BASELINE) == "3x3/64<img | 3x3/64 p2<1 | 5x5/128<2 | 3x3/128 p2<3"


def test_macro_architecture_draws(tmp_path):
    path = architecture_graph(ARCH, tmp_path / "macro.png", "tiny")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000


def test_grouped_and_se_operations_show_their_setting_and_draw_in_their_own_colour(tmp_path, monkeypatch):
    from matplotlib.colors import to_rgba
    from matplotlib.patches import FancyBboxPatch

    from nasrl.report import figures

    space = SearchSpace("tiny", 3, TINY.tokens, True, 8, (1,), (("groups", 2),))
    arch = space.architecture([{"op": "gconv3x3"}, {"op": "se3x3"}, {"op": "sep3x3"}], [[], [0], [1]])
    assert [row[1] for row in layer_rows(arch)] == ["gconv3x3 g=2", "se3x3 r=4", "sep3x3"]
    assert dna_string(arch) == "gconv3x3 | se3x3+0 /2 | sep3x3+1"
    # one colour per operation family, none left grey
    kinds = {op.rstrip("0123456789x") for op in OPERATIONS}
    assert len({figures.operation_colour(op) for op in OPERATIONS}) == len(kinds) == 6
    assert "#dddddd" not in {figures.operation_colour(op) for op in OPERATIONS}
    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: drawn.append(fig) or path)
    architecture_graph(arch, tmp_path / "new.png", "new operations")
    ax = drawn[0].axes[0]
    assert {"L1   gconv3x3 g=2, 8 ch", "L2   se3x3 r=4, 8 ch", "L3   sep3x3, 16 ch"} <= {t.get_text() for t in ax.texts}
    boxes = {
        round(p.get_y() + p.get_height() / 2): p.get_facecolor() for p in ax.patches if isinstance(p, FancyBboxPatch)
    }
    assert [boxes[i] for i in (1, 2, 3)] == [to_rgba(figures.OP_COLOURS[k]) for k in ("gconv", "se", "sep")]
