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
