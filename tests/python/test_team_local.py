"""flor.dataframe() and flor.query() with and without a team database:
`local=True` reads this checkout's journal only; without a team database
both read the journal; a team database that cannot be reached and was
never read is an error, not a silent fallback to the journal; any other
keyword is a TypeError.  (With a real server: tests/cli/t0960-team-read.sh.)"""
import pytest

import flor

TRAIN = """
    import flor
    for epoch in flor.loop("epoch", range(3)):
        flor.log("loss", 1.0 / (epoch + 1))
"""


@pytest.fixture
def one_run(project, monkeypatch):
    project.run(project.write("train.py", TRAIN))
    monkeypatch.delenv("FLOR_TEAM_DB", raising=False)
    return project


def test_without_a_team_database_both_read_the_journal(one_run):
    assert len(flor.dataframe("loss")) == 3
    assert len(flor.dataframe("loss", local=True)) == 3
    assert len(flor.query("SELECT * FROM logs WHERE name = 'loss'", local=True)) == 3
    assert len(flor.query("SELECT * FROM logs WHERE name = 'loss'")) == 3


def test_an_unreachable_team_database_never_read_is_an_error(one_run, monkeypatch):
    monkeypatch.setenv("FLOR_TEAM_DB", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(Exception) as e:
        flor.dataframe("loss")
    assert "never read before" in str(e.value) and "127.0.0.1:1" in str(e.value)
    assert len(flor.dataframe("loss", local=True)) == 3


def test_only_local_is_a_keyword(one_run):
    with pytest.raises(TypeError, match="remote"):
        flor.dataframe("loss", remote=True)
    with pytest.raises(TypeError, match="local_only"):
        flor.query("SELECT 1", local_only=True)
