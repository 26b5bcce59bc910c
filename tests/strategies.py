"""Hypothesis strategies shared by the tests: any architecture of any preset space."""

from hypothesis import strategies as st

from nasrl import space


@st.composite
def architectures(draw, space_name: str | None = None, max_layers: int = 6):
    name = space_name or draw(st.sampled_from(sorted(space.PRESET_TOKENS)))
    fixed = space.preset(name).family.name == "nb201"  # a cell has its six edges at any size
    num_layers = space.DEFAULT_LAYERS[name] if fixed else draw(st.integers(1, max_layers))
    sp = space.preset(name, num_layers)
    values = [{t.name: draw(st.sampled_from(t.choices)) for t in sp.tokens} for _ in range(num_layers)]
    if sp.skips:
        inputs = [sorted(draw(st.sets(st.integers(0, i - 1)))) if i else [] for i in range(num_layers)]
    else:
        inputs = None
    return sp.architecture(values, inputs).validate(sp)
