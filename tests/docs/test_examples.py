"""Every shell and Python block of the documented pages (examples.DOCUMENTS) would run, and does."""
import pytest

from tests.docs import examples


@pytest.mark.parametrize("document", examples.DOCUMENTS)
def test_every_block_of_the_page_would_run(document):
    found = examples.blocks(document)
    assert found, f"{document} has no code blocks"
    for block in found:
        examples.check_block(block)


@pytest.mark.slow
@pytest.mark.parametrize("document", examples.DOCUMENTS)
def test_every_block_of_the_page_runs_on_the_demo_data(document, tmp_path):
    examples.run_page(document, tmp_path)


def _block(code, lang="bash", mark=""):
    return examples.Block("page.md", 1, lang, code, mark)


def test_a_misspelled_option_of_a_task_command_fails_the_check():
    with pytest.raises(AssertionError, match="does not parse"):
        examples.check_block(_block("python -m tasks.sentiment evaluate --run-dirr runs/x\n"))


def test_an_unknown_config_key_on_the_command_line_fails_the_check():
    from common.errors import ConfigError

    with pytest.raises(ConfigError, match="epoch"):
        examples.check_block(_block("python -m tasks.sentiment train --set train.epoch=1\n"))


def test_an_unknown_config_key_in_python_fails_the_check():
    code = 'from tasks import sentiment\nsentiment.train(None, set={"train.epoch": 1})\n'
    with pytest.raises(AssertionError, match="no config key 'train.epoch'"):
        examples.check_block(_block(code, "python"))


def test_a_skipped_block_must_say_why():
    with pytest.raises(AssertionError, match="say why"):
        examples.check_block(_block("docker run x\n", mark="skip"))
    examples.check_block(_block("docker run x\n", mark="skip needs docker"))


def test_blocks_are_found_in_order_with_their_marks_and_continuations_joined():
    text = ("intro\n```bash\npython -m tasks.ner train \\\n    --run-dir r  # why\n```\n"
            "<!-- docs-test: server -->\n```python\nprint(1)\n```\n```text\nnot run\n```\n")
    found = examples.blocks("page.md", text)
    assert [(b.lang, b.mark, b.line) for b in found] == [("bash", "", 3), ("python", "server", 8)]
    assert examples.commands(found[0].code) == ["python -m tasks.ner train --run-dir r"]


def test_the_test_trains_one_epoch_and_uses_a_free_port():
    assert (examples.for_test("python -m tasks.sentiment train --set a=1 > out.txt")
            == "python -m tasks.sentiment train --set a=1 --set train.epochs=1 > out.txt")
    assert examples.for_test("bash scripts/demo.sh") == "bash scripts/demo.sh --epochs 1"
    assert examples.for_test("curl localhost:8501/v1", port=9999) == "curl localhost:9999/v1"
