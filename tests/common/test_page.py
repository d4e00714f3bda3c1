"""The page `serve` answers on GET / (common/page): what it is made of, and what it shows in a real browser.

The browser tests drive Debian's headless ``chromium`` through its ``chromedriver`` with Selenium (both
paths given, so Selenium Manager never looks for a driver on the network). Each task's demo is trained
once (one epoch, its own demo data) and served as `serve` serves it; a test types or uploads an input,
presses the button and checks the values the page shows against the server's own answer to the same
request, then that a bad input shows the server's one-line error. One screenshot per task is saved in
the test's temporary folder. Without chromium and chromedriver (``apt-get install chromium
chromium-driver``; .ci/run installs them) these tests are skipped. Training the five demos is most of
the module's time (about 75 s on an idle 2-core machine, of which the browser takes about 15 s).
"""
import base64
import hashlib
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from common import config as cfg
from common import lifecycle, registry
from common.metrics.tagging import to_spans
from common.page import VIEWS, render
from common.serving import make_server

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium "
           "chromium-driver; .ci/run installs them)")
TINY = {"train.epochs": 1, "train.tensorboard": False, "train.verbose": "none"}
GUARD = 60.0  # how long a page may take to show an answer (a hang bound, not a speed)
MAX_TEXT = 300  # the served models' --max-text: a longer text gets the server's one-line error


# ---- what the page is made of (no browser) ------------------------------------------------------------
def test_every_registered_task_has_a_view():
    assert set(VIEWS) == set(registry.TASK_MODULES)


def sentiment_page(labels=("negative", "positive")):
    task = registry.get_task("sentiment")
    return render(task, "m", lifecycle.load_config(task, task.demo_config_path), {"labels": list(labels)})


def inline(page, tag) -> str:
    (content,) = re.findall(rf"<{tag}>(.*?)</{tag}>", page.html.decode(), re.S)
    return content


def test_the_security_policy_allows_exactly_the_inlined_script_and_style():
    page = sentiment_page()
    policy = dict(page.headers)["Content-Security-Policy"]
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        digest = base64.b64encode(hashlib.sha256(inline(page, tag).encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}';" in policy
    assert policy.startswith("default-src 'none';") and "connect-src 'self';" in policy


def test_the_page_loads_nothing_from_elsewhere():
    document = sentiment_page().html.decode()
    links = re.findall(r"""(?:src|href|action)\s*=\s*["']?([^"' >]*)""", document)
    assert links and all(link == "data:," or link.startswith("/v1/models/m/") for link in links), links
    assert "@import" not in document and "url(" not in document


def test_run_values_in_the_settings_cannot_end_their_script_block():
    labels = ["</script><script>alert(1)</script>", "<!-- & -->"]
    page = sentiment_page(labels)
    document = page.html.decode()
    assert "<script>alert(1)" not in document and "<!--" not in document
    (block,) = re.findall(r'<script type="application/json" id="settings">(.*?)</script>', document, re.S)
    assert json.loads(block) == {"task": "sentiment", "labels": labels, "model": "m"}


# ---- the browser ------------------------------------------------------------------------------------
def train(task_name, folder, **overrides):
    task = registry.get_task(task_name)
    data = task.demo.make_data(folder / "data", seed=0)
    demo = lifecycle.load_config(task, task.demo_config_path)
    run, _ = lifecycle.train(task, cfg.with_values(demo, {**data, **TINY, **overrides}), folder / "run",
                             log=lambda *_: None)
    return run


def served(tmp_path_factory, task_name, max_tokens=512, **overrides):
    """Train ``task_name``'s demo for one epoch and serve it with its page as `serve` does (max_text
    ``MAX_TEXT``), in a thread; yields .url, .run, .post(payload) -> (status, reply)."""
    task = registry.get_task(task_name)
    run = train(task_name, tmp_path_factory.mktemp(task_name), **overrides)
    config = lifecycle.load_config(task, run.config_path, saved_run=True)
    page = render(task, task.name, config, lifecycle.read_state(run), max_tokens)
    httpd = make_server(run.export_dir, task.name, port=0, max_text=MAX_TEXT, max_tokens=max_tokens,
                        page=page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_port}"

    def post(payload):
        request = urllib.request.Request(f"{url}/v1/models/{task.name}:predict", json.dumps(payload).encode())
        try:
            with urllib.request.urlopen(request, timeout=GUARD) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    yield SimpleNamespace(url=url, run=run, config=config, post=post)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1100,1300", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # a browser 5:30 h off UTC: the page must read the CSV's naive times as UTC, as the exported graph does
    service = Service(executable_path=CHROMEDRIVER, env={**os.environ, "TZ": "Asia/Kolkata"})
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(GUARD)
    yield driver
    driver.quit()


class Page:
    """The page as a user sees it, through the browser."""

    def __init__(self, browser, url):
        from selenium.webdriver.common.by import By

        self.browser, self.by = browser, By
        browser.get_log("browser")  # drop what earlier pages logged
        browser.get(url + "/")
        # a script or style the security policy blocked, or a script error, is logged as SEVERE
        assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    def find(self, selector, within=None):
        return (within or self.browser).find_element(self.by.CSS_SELECTOR, selector)

    def find_all(self, selector, within=None):
        return (within or self.browser).find_elements(self.by.CSS_SELECTOR, selector)

    def type(self, selector, text):
        field = self.find(selector)
        field.clear()
        field.send_keys(text)

    def set(self, selector, value):
        """A value too long to type key by key, set as a paste would."""
        self.browser.execute_script("arguments[0].value = arguments[1]", self.find(selector), value)

    def press(self, selector):
        """Click and wait until the page has shown the answer (body[data-runs] counts answers)."""
        from selenium.webdriver.support.ui import WebDriverWait

        runs = int(self.find("body").get_attribute("data-runs"))
        self.find(selector).click()
        WebDriverWait(self.browser, GUARD).until(
            lambda _: int(self.find("body").get_attribute("data-runs")) > runs)

    def error(self) -> str:
        box = self.find("#error")
        return box.text if box.is_displayed() else ""

    def screenshot(self, path):
        assert self.browser.save_screenshot(str(path))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server_sentiment(tmp_path_factory):
    yield from served(tmp_path_factory, "sentiment")


@needs_chromium
def test_sentiment_shows_the_label_and_each_probability_as_a_bar(server_sentiment, browser, tmp_path):
    text = "the ending was delightful and the acting superb"
    page = Page(browser, server_sentiment.url)
    page.type("#sentiment-text", text)
    page.press("#sentiment-run")
    status, reply = server_sentiment.post({"instances": [text]})
    expected = reply["predictions"][0]
    assert status == 200 and page.error() == ""
    assert page.find("#sentiment-label").text == expected["label"]
    rows = page.find_all("#sentiment-probabilities tr")
    labels = lifecycle.read_state(server_sentiment.run)["labels"]
    assert [row.get_attribute("data-label") for row in rows] == labels
    for row, p in zip(rows, expected["probabilities"]):
        assert page.find("th", row).text == row.get_attribute("data-label")
        assert page.find("td.number", row).text == f"{p:.3f}"
        bar, fill = page.find(".bar", row), page.find(".fill", row)
        assert fill.size["width"] == pytest.approx(p * bar.size["width"], abs=1.5)
    page.screenshot(tmp_path / "sentiment.png")


@needs_chromium
def test_a_bad_input_shows_the_servers_error_and_no_stale_result(server_sentiment, browser, tmp_path):
    page = Page(browser, server_sentiment.url)
    page.type("#sentiment-text", "a fine film")
    page.press("#sentiment-run")
    assert page.find_all("#sentiment-probabilities tr") and page.error() == ""
    too_long = "x" * (MAX_TEXT + 1)
    page.set("#sentiment-text", too_long)
    page.press("#sentiment-run")
    status, reply = server_sentiment.post({"instances": [too_long]})
    assert status == 400 and page.error() == reply["error"]
    assert page.find("#sentiment-out").text == ""  # the last answer is gone: it was not this text's


@pytest.fixture(scope="module")
def server_ner(tmp_path_factory):
    yield from served(tmp_path_factory, "ner")


@needs_chromium
def test_ner_highlights_the_entities_of_the_servers_tags(server_ner, browser, tmp_path):
    sentences = []
    for block in (server_ner.run.path.parent / "data" / "ner_train.txt").read_text().split("\n\n"):
        tokens = [line.split()[0] for line in block.splitlines() if line and not line.startswith("-DOCSTART")]
        if tokens:
            sentences.append(" ".join(tokens))
    status, reply = server_ner.post({"signature_name": "sentences", "instances": sentences[:40]})
    assert status == 200
    # the first sentence the one-epoch model finds an entity in (outputs: space-joined strings)
    text, tokens, tags = next(((sentence, row["tokens"].split(), row["tags"].split())
                               for sentence, row in zip(sentences, reply["predictions"])
                               if to_spans(row["tags"].split(), "iob2")[0]), (None, None, None))
    assert text is not None, "the one-epoch model tags no entity in 40 training sentences"
    spans, _ = to_spans(tags, "iob2")
    page = Page(browser, server_ner.url)
    page.type("#ner-text", text)
    page.press("#ner-run")
    assert page.error() == ""
    marks = page.find_all("#ner-sentence mark")
    assert [(mark.get_attribute("data-type"), page.find(".words", mark).text) for mark in marks] == [
        (kind, " ".join(tokens[start:end])) for kind, start, end in spans]
    read_out, after = [], 0  # the sentence as the page shows it: each entity's words, then its type
    for kind, start, end in spans:
        read_out += tokens[after:end] + [kind]
        after = end
    assert page.find("#ner-sentence").text.split() == read_out + tokens[after:]
    table = [[cell.text for cell in page.find_all("td", row)] for row in page.find_all("#ner-tags tr")[1:]]
    assert table == [[token, tag] for token, tag in zip(tokens, tags)]
    page.screenshot(tmp_path / "ner.png")
    page.set("#ner-text", "x " * MAX_TEXT)
    page.press("#ner-run")
    assert page.error() == ("input 'sentences' holds a string of more than 300 characters, this server's "
                            "limit; shorten or split it")


@needs_chromium
@pytest.mark.parametrize("tags", [["B-PER", "I-PER", "B-PER"], ["I-LOC", "I-LOC", "O", "I-LOC"],
                                  ["S-ORG", "B-ORG", "E-ORG", "I-ORG"], ["B-ORG", "S-ORG"],
                                  ["B-PER", "I-LOC", "E-LOC"], []])
def test_the_pages_entity_spans_follow_the_projects_tagging_rules(server_ner, browser, tags):
    """Sequences the one-epoch model may never produce: adjacent entities, a type change, IOB1 and BIOES."""
    Page(browser, server_ner.url)
    spans = browser.execute_script("return entitySpans(arguments[0])", tags)
    assert spans == [list(span) for span in to_spans(tags, "iob1")[0]]


@pytest.fixture(scope="module")
def server_translation(tmp_path_factory):
    yield from served(tmp_path_factory, "translation", **{"model.attention_plots": 0})  # no evaluation plots


@needs_chromium
def test_translation_shows_the_beam_and_the_greedy_translation(server_translation, browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    text = "The ball finds the dog on the street."
    page = Page(browser, server_translation.url)
    decoding = Select(page.find("#translation-decoding"))
    beam = f"beam search (width {server_translation.config.model.beam_width})"
    assert [o.text for o in decoding.options] == [beam, "greedy"]
    page.type("#translation-text", text)
    for option, signature in [("greedy", "translate_greedy"), (beam, "serving_default")]:
        decoding.select_by_visible_text(option)
        page.press("#translation-run")
        status, reply = server_translation.post({"signature_name": signature, "instances": [text]})
        expected = reply["predictions"][0]
        assert status == 200 and page.error() == ""
        assert page.find("#translation-result").text == expected["translation"].strip()
        assert page.find("#translation-tokens").text == expected["tokens"].strip()
        assert page.find("#translation-score").text == f"{expected['score']:.3f}"
    page.screenshot(tmp_path / "translation.png")
    page.set("#translation-text", "x" * (MAX_TEXT + 1))
    page.press("#translation-run")
    assert page.error() == ("input 'source' holds a string of more than 300 characters, this server's limit; "
                            "shorten or split it")


@pytest.fixture(scope="module")
def server_language_model(tmp_path_factory):
    yield from served(tmp_path_factory, "language_model", max_tokens=12)


@needs_chromium
def test_language_model_generates_with_the_settings_typed(server_language_model, browser, tmp_path):
    page = Page(browser, server_language_model.url)
    field = page.find("#lm-max-tokens")
    assert (field.get_attribute("max"), field.get_attribute("value")) == ("12", "12")  # the server's cap
    settings = {"max_tokens": 6, "temperature": 0.7, "top_p": 0.9, "top_k": 0, "seed": 3}
    page.type("#lm-prompt", "the old farmer")
    for name, value in settings.items():
        page.type(f"#lm-{name.replace('_', '-')}", str(value))
    page.press("#lm-run")
    status, reply = server_language_model.post({"signature_name": "generate",
                                                "instances": [{"prompt": "the old farmer", **settings}]})
    assert status == 200 and page.error() == ""
    continuation = reply["predictions"][0]
    assert continuation and len(continuation.split()) <= 6
    assert page.find("#lm-continuation").text == continuation
    assert page.find("#lm-result").text == f"the old farmer {continuation}"
    page.screenshot(tmp_path / "language_model.png")
    page.type("#lm-top-p", "1.5")
    page.press("#lm-run")
    assert page.error() == "input 'top_p' must be above 0 and at most 1 (1: no limit), got 1.5"
    assert page.find("#lm-out").text == ""


QUANTILES = [0.1, 0.5, 0.9]


@pytest.fixture(scope="module")
def server_forecasting(tmp_path_factory):
    yield from served(tmp_path_factory, "forecasting", **{"model.quantiles": QUANTILES})


@needs_chromium
def test_forecasting_draws_the_uploaded_history_the_forecast_and_its_band(server_forecasting, browser,
                                                                         tmp_path):
    d = server_forecasting.config.data
    state = lifecycle.read_state(server_forecasting.run)
    frame = pd.read_csv(server_forecasting.run.path.parent / "data" / "forecasting.csv").tail(d.lookback + 5)
    upload = tmp_path / "recent.csv"
    frame.to_csv(upload, index=False)
    page = Page(browser, server_forecasting.url)
    page.find("#forecast-file").send_keys(str(upload))
    page.press("#forecast-run")
    history = frame[state["features"]].to_numpy(np.float32)[-d.lookback:]
    status, reply = server_forecasting.post({"inputs": {"history": [history.tolist()]}})
    forecast = np.asarray(reply["outputs"][0])  # [horizon, targets, quantiles]
    assert status == 200 and page.error() == ""
    assert forecast.shape == (d.horizon, len(state["targets"]), len(QUANTILES))
    rows = page.find_all("#forecast-table tr")
    assert [c.text for c in page.find_all("th", rows[0])] == [d.time_column] + [
        f"{t} q{q:g}" for t in state["targets"] for q in QUANTILES]
    shown = np.array([[float(c.text) for c in page.find_all("td.number", row)] for row in rows[1:]])
    np.testing.assert_allclose(shown, forecast.reshape(d.horizon, -1), atol=5e-4)
    last = pd.Timestamp(frame[d.time_column].iloc[-1])
    assert [page.find("td", row).text for row in rows[1:]] == [
        str(last + pd.Timedelta(hours=k)) for k in range(1, d.horizon + 1)]
    charts = page.find_all("svg.chart")
    assert [c.get_attribute("data-target") for c in charts] == state["targets"]
    for j, chart in enumerate(charts):  # every point drawn where its value lies on one scale per chart
        def points(selector):
            return np.array([[float(v) for v in p.split(",")]
                             for p in page.find(selector, chart).get_attribute("points").split()])

        past, line, band = points("polyline.history"), points("polyline.forecast"), points("polygon.band")
        low, median, high = (forecast[:, j, i] for i in range(len(QUANTILES)))
        values = np.concatenate([history[:, j], history[-1:, j], median, high, low[::-1]])
        drawn = np.concatenate([past, line, band])
        assert len(drawn) == len(values) == d.lookback + 1 + 3 * d.horizon
        slope, intercept = np.polyfit(values, drawn[:, 1], 1)
        assert slope < 0 and np.abs(slope * values + intercept - drawn[:, 1]).max() < 0.1  # up is larger
        assert np.all(np.diff(np.concatenate([past[:, 0], line[1:, 0]])) > 0)  # the forecast follows
        np.testing.assert_array_equal(band[:d.horizon, 0], line[1:, 0])
    page.screenshot(tmp_path / "forecasting.png")

    huge = frame.copy()
    huge.iloc[-1, huge.columns.get_loc(state["targets"][0])] = 1e39  # a finite number, but not in float32
    huge.to_csv(tmp_path / "huge.csv", index=False)
    page.find("#forecast-file").send_keys(str(tmp_path / "huge.csv"))
    page.press("#forecast-run")
    assert page.error() == ("input 'history' holds a number outside the float32 range (about -3.4e+38 to "
                            "3.4e+38)")
    assert page.find("#forecast-out").text == ""
    frame.tail(d.lookback - 1).to_csv(tmp_path / "short.csv", index=False)
    page.find("#forecast-file").send_keys(str(tmp_path / "short.csv"))
    page.press("#forecast-run")
    assert page.error() == (f"short.csv: {d.lookback - 1} history rows, but the model needs the last "
                            f"{d.lookback} (data.lookback) to forecast")


@needs_chromium
def test_forecasting_reads_known_future_rows_and_calendar_times_as_predict_does(server_forecasting, browser):
    """A model with known-future inputs, by the page's CSV reading alone (its settings changed in the page):
    the rows with empty targets give ``future_covariates``, their times ``future_time`` (Unix seconds of the
    naive timestamps, as `unix_seconds`), and the history is the ``lookback`` rows before them."""
    from tasks.forecasting.calendar import unix_seconds

    d = server_forecasting.config.data
    features = lifecycle.read_state(server_forecasting.run)["features"]  # load, solar and temperature
    frame = pd.read_csv(server_forecasting.run.path.parent / "data" / "forecasting.csv", dtype=str)
    frame = frame.tail(d.lookback + 3 + d.horizon)
    frame.iloc[-d.horizon:, frame.columns.get_indexer(["load", "solar"])] = ""
    Page(browser, server_forecasting.url)
    read = browser.execute_script("""
        Object.assign(SETTINGS, {future_covariates: ["temperature"], calendar: ["hour_of_day"]});
        try { return forecastInputs(parseCsv(arguments[0], "f.csv"), "f.csv"); }
        catch (error) { return error.message; }""", frame.to_csv(index=False))
    history, future = frame.iloc[-d.lookback - d.horizon:-d.horizon], frame.tail(d.horizon)
    np.testing.assert_array_equal(read["inputs"]["history"], [history[features].to_numpy(float)])
    known = future[["temperature"]].to_numpy(float)
    np.testing.assert_array_equal(read["inputs"]["future_covariates"], [known])
    times = pd.DatetimeIndex(pd.to_datetime(future[d.time_column]))
    assert read["inputs"]["future_time"] == [unix_seconds(times).tolist()]
    assert read["labels"] == future[d.time_column].tolist()
    short = browser.execute_script("""
        try { return forecastInputs(parseCsv(arguments[0], "f.csv"), "f.csv"); }
        catch (error) { return error.message; }""", frame.iloc[:-1].to_csv(index=False))
    assert short == (f"f.csv: the model takes known-future covariates (temperature): end the file with "
                     f"{d.horizon} rows holding their timestamps and values, target cells empty (found "
                     f"{d.horizon - 1} such rows)")


@needs_chromium
def test_forecasting_continues_the_historys_time_step_for_calendar_features(server_forecasting, browser):
    """Without known-future rows, the horizon's times (``future_time`` for calendar features, and the table's
    labels) continue the history's last step: here half-hourly."""
    d = server_forecasting.config.data
    times = pd.date_range("2024-03-31 20:00", periods=d.lookback, freq="30min")
    frame = pd.DataFrame({"timestamp": times.strftime("%Y-%m-%d %H:%M:%S"), "load": 1.0, "solar": 2.0,
                          "temperature": 3.0})
    Page(browser, server_forecasting.url)
    read = browser.execute_script("""
        Object.assign(SETTINGS, {calendar: ["hour_of_day"]});
        return forecastInputs(parseCsv(arguments[0], "f.csv"), "f.csv");""", frame.to_csv(index=False))
    horizon = pd.date_range(times[-1], periods=d.horizon + 1, freq="30min")[1:]
    assert read["inputs"]["future_time"] == [[int(t.timestamp()) for t in horizon]]
    assert read["labels"] == [str(t) for t in horizon]
