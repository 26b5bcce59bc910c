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
