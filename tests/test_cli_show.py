import json

from nasrl.cli import main


def test_show_prints_table_parameters_and_flops(capsys):
    assert main(["show", "nascnn15"]) == 0
    out = capsys.readouterr().out
    assert "parameters: 4201630" in out.splitlines()
    assert "C15" in out and "GFLOPs" in out


def test_show_json_round_trips(capsys, tmp_path):
    assert main(["show", "nascnn15", "--json"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "a.json"
    path.write_text(text)
    assert main(["show", str(path)]) == 0
    assert "parameters: 4201630" in capsys.readouterr().out
    assert json.loads(text)["space"] == "zoph"


def test_unknown_name_and_bad_json_exit_2_with_one_sentence(capsys, tmp_path):
    assert main(["show", "resnet50"]) == 2
    err = capsys.readouterr().err
    assert "Unknown architecture 'resnet50'" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"space": "zoph", "layers": [{"filter_height": 2, "filter_width": 3, "filters": 36}]}')
    assert main(["show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "token 'filter_height': 2 is not one of" in err
    assert main(["show", str(tmp_path / "missing.json")]) == 2


def test_show_reads_a_searchs_best_architecture_file_and_folder(capsys, tmp_path):
    from nasrl.space.zoo import NASCNN15

    best = {"architecture": NASCNN15.to_dict(), "reward": 0.5, "episode": 0, "child": 0}
    (tmp_path / "best_architecture.json").write_text(json.dumps(best))
    assert main(["show", str(tmp_path / "best_architecture.json")]) == 0
    assert main(["show", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("parameters: 4201630") == 2


def test_unreadable_architecture_files_exit_2(capsys, tmp_path):
    (tmp_path / "best_architecture.json").write_text("{not json")
    assert main(["show", str(tmp_path)]) == 2
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["show", str(binary)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("is not a readable JSON file" in line for line in err)


def test_show_prints_a_macro_best_architecture(capsys, tmp_path):
    from nasrl.nets import builder
    from nasrl.space import OPERATIONS, SearchSpace, Token

    space = SearchSpace("tiny", 3, (Token("op", OPERATIONS),), True, 8, (1,))
    arch = space.architecture([{"op": "conv3x3"}, {"op": "sep5x5"}, {"op": "maxpool3x3"}], [[], [0], [0, 1]])
    (tmp_path / "best_architecture.json").write_text(json.dumps({"architecture": arch.to_dict(), "reward": 0.5}))
    assert main(["show", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"architecture: {tmp_path}  (space tiny, 3 layers, 8 channels, final form, hash {arch.hash()})"
    assert lines[1:7] == [
        "layer  operation   width  skips",
        "-----  ----------  -----  -------",
        "L1     conv3x3     8      -",
        "L2     sep5x5      8      stem",
        "-- reduce x2 after layer 2: half the height and width, 8 -> 16 wide",
        "L3     maxpool3x3  16     stem,L1",
    ]
    assert lines[7] == f"parameters: {builder.count_parameters(builder.build(arch))}"
    assert lines[8].startswith("GFLOPs per 32x32 image: 0.0")
    assert main(["show", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == arch.to_dict()


def test_show_prints_grouped_and_se_layers_and_refuses_settings_that_do_not_fit(capsys, tmp_path):
    from nasrl.nets import builder
    from nasrl.space import OPERATIONS, SearchSpace, Token

    space = SearchSpace("tiny", 2, (Token("op", OPERATIONS),), True, 8, (0,), (("groups", 2), ("se_reduction", 8)))
    arch = space.architecture([{"op": "gconv3x3"}, {"op": "se3x3"}], [[], [0]])
    path = tmp_path / "arch.json"
    path.write_text(arch.to_json(indent=2))
    assert main(["show", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3] == "L1     gconv3x3 g=2  8      -" and lines[5] == "L2     se3x3 r=8     16     stem"
    assert lines[6] == f"parameters: {builder.count_parameters(builder.build(arch))}"
    for settings, message in [
        ({"groups": 3, "se_reduction": 8}, "'groups' 3 does not divide 8"),
        ({"groups": 2, "se_reduction": 9}, "'se_reduction' 9 is larger than 8"),
        ({"groups": 2}, "its operations read {'groups': 2, 'se_reduction': 4}"),
    ]:
        path.write_text(json.dumps({**arch.to_dict(), "op_settings": settings}))
        assert main(["show", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and err.count("\n") == 0, err
