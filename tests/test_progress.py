"""The course's progress bars: a finished bar leaves no stale output (issue 13)."""

import pytest

from lessons_lib.core import progress


class _Handle:
    def __init__(self):
        self.updates = []

    def update(self, obj, **options):
        self.updates.append((obj, options))


def _fake_notebook(monkeypatch):
    """Pretend to run in a notebook kernel: tqdm.auto's widget bar, a recording display."""
    pytest.importorskip("ipywidgets")
    import tqdm.auto
    from tqdm.notebook import tqdm_notebook

    shown = []

    def display(obj, **options):
        shown.append((obj, options))
        return handle

    handle = _Handle()
    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm_notebook)
    monkeypatch.setattr(progress, "_display", display)
    return shown, handle


def test_outside_a_notebook_it_is_a_text_bar_that_erases_itself(capsys):
    bar = progress.progress_bar(range(3), desc="steps")
    assert list(bar) == [0, 1, 2]
    assert bar.leave is False
    assert progress.progress_bar(range(3), enabled=False).disable


def test_a_finished_notebook_bar_blanks_its_output(monkeypatch):
    shown, handle = _fake_notebook(monkeypatch)
    bar = progress.progress_bar(range(4), desc="epochs")
    assert len(shown) == 1 and shown[0][1] == {"display_id": True}  # shown live, once
    assert "0%" in repr(shown[0][0])  # what an executed copy kept before: a frozen 0 %
    bar.set_postfix({"loss": "0.1"})
    assert list(bar) == [0, 1, 2, 3]
    assert handle.updates == [({"text/plain": ""}, {"raw": True})]


def test_a_notebook_bar_left_early_or_used_by_hand_is_blanked_too(monkeypatch):
    _, handle = _fake_notebook(monkeypatch)
    for step in progress.progress_bar(range(10)):
        if step == 2:
            break  # e.g. EM converged
    import gc

    gc.collect()
    assert handle.updates == [({"text/plain": ""}, {"raw": True})]
    with progress.progress_bar(total=5, unit="B") as bar:
        bar.update(5)
    assert len(handle.updates) == 2
    disabled = progress.progress_bar(range(3), enabled=False)
    assert list(disabled) == [0, 1, 2] and len(handle.updates) == 2


def test_progress_bar_refuses_bad_options():
    with pytest.raises(TypeError, match="enabled"):
        progress.progress_bar(range(3), enabled=1)
    with pytest.raises(TypeError, match="desc"):
        progress.progress_bar(range(3), desc=3)


@pytest.mark.slow
def test_an_executed_notebook_keeps_no_frozen_bar(tmp_path):
    """The real case: nbclient (what nbconvert --execute runs) saves the outputs of a cell."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipywidgets")
    source = (
        "from lessons_lib.core.progress import progress_bar\n"
        "for _ in progress_bar(range(50), desc='epochs'):\n"
        "    pass\n"
        "print('done')"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    text = "".join(
        str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", "")) for out in outputs
    )
    assert "done" in text and "%" not in text and "epochs" not in text


def test_every_library_loop_draws_its_bar_through_progress_bar():
    """A direct ``tqdm`` call leaves a bar frozen at 0 % in an executed notebook."""
    from pathlib import Path

    import lessons_lib

    root = Path(lessons_lib.__file__).parent
    direct = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "progress.py"
        and any(
            line.lstrip().startswith(("from tqdm", "import tqdm"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert direct == [], f"these modules call tqdm directly; use core.progress_bar: {direct}"
