"use strict";
// The page's program. It may load nothing (the machine may be offline, and the page's
// Content-Security-Policy allows no other source), so the CSV reader and the SVG chart below are
// hand-written: no library is at hand. Model outputs go into the page as text, never as markup.
const SETTINGS = JSON.parse(document.getElementById("settings").textContent);
const PREDICT = `/v1/models/${SETTINGS.model}:predict`;
const SVG = "http://www.w3.org/2000/svg";
const byId = (id) => document.getElementById(id);

function node(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") element.className = value;
    else element.setAttribute(key, value);
  }
  element.append(...children);  // strings become text nodes
  return element;
}

function svgNode(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  element.append(...children);
  return element;
}

// A mistake the page finds itself (a CSV without a needed column); the server's own come as it words them.
class PageError extends Error {}

async function predict(body) {
  let response;
  try {
    response = await fetch(PREDICT, {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(body)});
  } catch (error) {
    throw new PageError(`the server cannot be reached (${error.message}); is serve still running?`);
  }
  let reply = null;
  try {
    reply = await response.json();
  } catch (error) {
    reply = null;  // said below
  }
  if (!response.ok || reply === null) {
    throw new PageError(reply && typeof reply.error === "string" ? reply.error
                                                                 : `the server answered ${response.status}`);
  }
  return reply;
}

function showError(message) {
  byId("error").textContent = message;
  byId("error").hidden = !message;
}

// One button: clear the last result and error, run ``work`` (which returns the nodes to show), show its
// nodes or its one-line error. body[data-runs] counts finished runs, so a test can wait for one.
function wire(button, output, work) {
  byId(button).addEventListener("click", async () => {
    showError("");
    byId(output).replaceChildren();
    byId(button).disabled = true;
    try {
      byId(output).append(...await work());
    } catch (error) {
      showError(error instanceof PageError ? error.message : `the page failed: ${error.message}`);
    } finally {
      byId(button).disabled = false;
      document.body.dataset.runs = Number(document.body.dataset.runs) + 1;
    }
  });
}

function bar(fraction) {
  const fill = node("div", {class: "fill"});
  fill.style.width = `${(100 * fraction).toFixed(1)}%`;  // CSSOM: allowed by the page's style policy
  return node("div", {class: "bar"}, fill);
}

// ---- sentiment: label probabilities as bars ----------------------------------------------------------
function sentiment() {
  wire("sentiment-run", "sentiment-out", async () => {
    const reply = await predict({instances: [byId("sentiment-text").value]});
    const {label, probabilities} = reply.predictions[0];
    const rows = probabilities.map((p, i) => node("tr", {"data-label": SETTINGS.labels[i]},
      node("th", {scope: "row"}, SETTINGS.labels[i]), node("td", {}, bar(p)), node("td", {class: "number"},
                                                                                 p.toFixed(3))));
    return [node("p", {}, "Label: ", node("strong", {id: "sentiment-label"}, label)),
            node("table", {id: "sentiment-probabilities"}, node("caption", {class: "meta"}, "probabilities"),
                 ...rows)];
  });
}

// ---- NER: entities highlighted in the sentence -------------------------------------------------------
// Entity spans [type, start, end) of a tag sequence in any scheme, by conlleval's rules (those of
// common/metrics/tagging.py's to_spans): an entity starts at B-/S-, at a type change, or after O, E- or S-.
function entitySpans(tags) {
  const spans = [];
  let current = null;
  let closed = true;
  tags.forEach((tag, i) => {
    if (tag === "O" || tag === "") {
      if (current) spans.push([current[0], current[1], i]);
      current = null;
      closed = true;
      return;
    }
    const prefix = tag.slice(0, tag.indexOf("-"));
    const type = tag.slice(tag.indexOf("-") + 1);
    if (prefix === "B" || prefix === "S" || closed || current === null || current[0] !== type) {
      if (current) spans.push([current[0], current[1], i]);
      current = [type, i];
    }
    closed = prefix === "E" || prefix === "S";
  });
  if (current) spans.push([current[0], current[1], tags.length]);
  return spans;
}

function ner() {
  wire("ner-run", "ner-out", async () => {
    const reply = await predict({signature_name: "sentences", instances: [byId("ner-text").value]});
    const words = (text) => text.split(" ").filter(Boolean);  // each output is one space-joined string
    const tokens = words(reply.predictions[0].tokens);
    const tags = words(reply.predictions[0].tags);
    const spans = entitySpans(tags);
    const types = [...new Set(spans.map((span) => span[0]))].sort();
    const sentence = node("p", {id: "ner-sentence", class: "sentence"});
    let next = 0;
    for (const [type, start, end] of spans) {
      if (start > next) sentence.append(tokens.slice(next, start).join(" "), " ");
      sentence.append(node("mark", {"data-type": type, class: `c${types.indexOf(type) % 6}`},
                           node("span", {class: "words"}, tokens.slice(start, end).join(" ")), " ",
                           node("span", {class: "type"}, type)), " ");
      next = end;
    }
    sentence.append(tokens.slice(next).join(" "));
    const rows = tokens.map((token, i) => node("tr", {}, node("td", {}, token), node("td", {}, tags[i])));
    const found = spans.length ? `${spans.length} entit${spans.length === 1 ? "y" : "ies"}` : "no entities";
    return [sentence, node("p", {class: "meta"}, `${tokens.length} tokens, ${found}`),
            node("table", {id: "ner-tags"}, node("tr", {}, node("th", {}, "token"), node("th", {}, "tag")),
                 ...rows)];
  });
}

// ---- translation (its export has no attention output to draw) -------------------------------------------
function translation() {
  const decoding = byId("translation-decoding");
  if (SETTINGS.beam_width > 1) {
    decoding.append(node("option", {value: "serving_default"}, `beam search (width ${SETTINGS.beam_width})`),
                    node("option", {value: "translate_greedy"}, "greedy"));
  } else {
    decoding.append(node("option", {value: "serving_default"}, "greedy"));
  }
  wire("translation-run", "translation-out", async () => {
    const text = byId("translation-text").value;
    const reply = await predict({signature_name: decoding.value, instances: [text]});
    const {translation: translated, tokens, score} = reply.predictions[0];
    return [node("p", {id: "translation-result", class: "translation"}, translated),
            node("p", {class: "meta"}, "tokens: ", node("code", {id: "translation-tokens"}, tokens),
                 " · score (length-normalised log-probability): ",
                 node("span", {id: "translation-score"}, score.toFixed(3)))];
  });
}

// ---- language model: a prompt, the settings, the continuation ----------------------------------------
function languageModel() {
  const fields = {max_tokens: "lm-max-tokens", temperature: "lm-temperature", top_p: "lm-top-p",
                  top_k: "lm-top-k", seed: "lm-seed"};
  for (const [name, id] of Object.entries(fields)) byId(id).value = SETTINGS.generation[name];
  byId("lm-max-tokens").max = SETTINGS.max_tokens_cap;
  if (SETTINGS.beam_width > 1) {
    byId("lm-beam").textContent = `This model decodes with beam search (width ${SETTINGS.beam_width}): `
      + "temperature, top-k and top-p are not used.";
    byId("lm-beam").hidden = false;
  }
  wire("lm-run", "lm-out", async () => {
    const prompt = byId("lm-prompt").value;
    // valueAsNumber: an empty or unreadable field is NaN, sent as null, which the server refuses by name
    const instance = {prompt};
    for (const [name, id] of Object.entries(fields)) instance[name] = byId(id).valueAsNumber;
    const reply = await predict({signature_name: "generate", instances: [instance]});
    const continuation = reply.predictions[0];
    const gap = SETTINGS.granularity === "word" && prompt.trim() && continuation ? " " : "";
    return [node("p", {id: "lm-result", class: "generated"}, node("span", {class: "prompt"}, prompt), gap,
                 node("mark", {id: "lm-continuation"}, continuation))];
  });
}

// ---- forecasting: a CSV read here, the history, the forecast and its quantile band --------------------
// RFC 4180 rows (quoted fields, doubled quotes, CRLF) with the line each starts on; blank rows dropped.
function parseCsv(text, name) {
  const rows = [];
  let cells = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let start = 1;
  const endRow = () => {
    cells.push(cell);
    if (cells.some((c) => c.trim() !== "")) rows.push({line: start, cells});
    cells = [];
    cell = "";
  };
  for (let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === "\"" && text[i + 1] === "\"") {
        cell += "\"";
        i++;
      } else if (c === "\"") {
        quoted = false;
      } else {
        if (c === "\n") line++;
        cell += c;
      }
    } else if (c === "\"") {
      quoted = true;
    } else if (c === ",") {
      cells.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRow();
      line++;
      start = line;
    } else {
      cell += c;
    }
  }
  if (quoted) throw new PageError(`${name} line ${start}: a quoted field never ends; close its quote`);
  endRow();
  return rows;
}

// Naive timestamps as the exported graph reads them (UTC, like pandas' naive times): seconds, or NaN.
function seconds(text) {
  const match = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?$/.exec(text.trim());
  return match ? Date.parse(`${match[1]}T${match[2] || "00:00"}Z`) / 1000 : NaN;
}

function stamp(value) {
  return new Date(value * 1000).toISOString().replace("T", " ").replace(/\.000Z$/, "");
}

function forecastInputs(rows, name) {
  const s = SETTINGS;
  if (!rows.length) {
    throw new PageError(`${name} is empty; give a header row and at least ${s.lookback} rows`);
  }
  const header = rows[0].cells.map((c) => c.trim());
  const needed = [s.time_column, ...s.features];
  const missing = needed.filter((c) => !header.includes(c));
  if (missing.length) {
    throw new PageError(`${name} has no column ${missing.map((c) => `'${c}'`).join(", ")}; the model needs `
                        + `${needed.join(", ")} (header row first)`);
  }
  const at = (row, column) => (row.cells[header.indexOf(column)] || "").trim();
  const number = (row, column) => {
    const cell = at(row, column);
    const value = Number(cell);
    if (cell === "" || !Number.isFinite(value)) {
      throw new PageError(`${name} line ${row.line}: column '${column}' holds '${cell.slice(0, 40)}', not a `
                          + "number; give a finite number in every cell the model reads");
    }
    return value;
  };
  let data = rows.slice(1);
  let future = [];
  if (s.future_covariates.length) {  // the file ends with the horizon's rows: known values, targets empty
    let count = 0;
    const blank = (row) => s.targets.every((t) => at(row, t) === "");
    while (count < data.length && blank(data[data.length - 1 - count])) count++;
    if (count < s.horizon) {
      const known = s.future_covariates.join(", ");
      throw new PageError(`${name}: the model takes known-future covariates (${known}): end the file `
                          + `with ${s.horizon} rows holding their timestamps and values, target cells empty `
                          + `(found ${count} such rows)`);
    }
    future = data.slice(data.length - count, data.length - count + s.horizon);
    data = data.slice(0, data.length - count);
  }
  if (data.length < s.lookback) {
    throw new PageError(`${name}: ${data.length} history rows, but the model needs the last ${s.lookback} `
                        + "(data.lookback) to forecast");
  }
  const history = data.slice(-s.lookback);
  const inputs = {history: [history.map((row) => s.features.map((c) => number(row, c)))]};
  if (future.length) {
    inputs.future_covariates = [future.map((row) => s.future_covariates.map((c) => number(row, c)))];
  }
  // the horizon's times: from its rows, else the history's last step repeated
  const last = seconds(at(history[history.length - 1], s.time_column));
  const step = last - seconds(at(history[history.length - 2] || history[0], s.time_column));
  let times = future.map((row) => seconds(at(row, s.time_column)));
  if (!future.length) times = Array.from({length: s.horizon}, (_, k) => last + (k + 1) * step);
  if (s.calendar.length) {
    if (!times.every(Number.isFinite) || !(step > 0)) {
      throw new PageError(`${name}: the model takes calendar features of the horizon's times, and the page `
                          + `reads ${s.time_column} as YYYY-MM-DD HH:MM:SS in increasing order only; use `
                          + "predict for other files");
    }
    inputs.future_time = [times];
  }
  const dated = times.every(Number.isFinite) && step > 0;
  const labels = dated ? times.map(stamp) : times.map((_, k) => `+${k + 1}`);
  const past = history.map((row) => s.targets.map((t) => number(row, t)));
  return {inputs, labels, past};
}

// One target's chart: the history, the point forecast and the band between the outer quantiles.
function chart(title, past, point, low, high) {
  const width = 720;
  const height = 220;
  const pad = 36;
  const all = [...past, ...point, ...(low || []), ...(high || [])];
  const min = Math.min(...all);
  const span = Math.max(...all) - min || 1;
  const n = past.length + point.length;
  const x = (i) => pad + (i / Math.max(n - 1, 1)) * (width - 2 * pad);
  const y = (v) => height - pad - ((v - min) / span) * (height - 2 * pad);
  const xy = (v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`;
  const line = (values, offset) => values.map((v, i) => xy(v, i + offset)).join(" ");
  const svg = svgNode("svg", {class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                              "data-target": title}, svgNode("title", {}, `${title}: history and forecast`));
  svg.append(svgNode("line", {class: "axis", x1: x(past.length - 0.5), x2: x(past.length - 0.5), y1: pad / 2,
                              y2: height - pad / 2}));
  if (low) {
    const upper = high.map((v, i) => xy(v, past.length + i));
    const lower = low.map((v, i) => xy(v, past.length + i)).reverse();
    svg.append(svgNode("polygon", {class: "band", points: [...upper, ...lower].join(" ")}));
  }
  svg.append(svgNode("polyline", {class: "history", points: line(past, 0)}),
             svgNode("polyline", {class: "forecast", points: line([past[past.length - 1], ...point],
                                                                  past.length - 1)}),
             svgNode("text", {x: 4, y: pad / 2 + 8}, `${title} (max ${Number((min + span).toPrecision(6))})`),
             svgNode("text", {x: 4, y: height - 8}, `min ${Number(min.toPrecision(6))}`),
             svgNode("text", {x: x(past.length) + 4, y: height - 8}, "forecast"));
  return svg;
}

function forecasting() {
  const s = SETTINGS;
  const future = s.future_covariates.length ? `, then ${s.horizon} rows with the horizon's timestamps and `
    + `${s.future_covariates.join(", ")} values, target cells empty` : "";
  const columns = [s.time_column, ...s.features].join(", ");
  const levels = s.quantiles.length ? ` with quantiles ${s.quantiles.join(", ")}` : "";
  byId("forecast-hint").textContent = `A CSV with a header row and the columns ${columns}: its last `
    + `${s.lookback} rows are the history${future}. The model forecasts ${s.horizon} steps of `
    + `${s.targets.join(", ")}${levels}.`;
  wire("forecast-run", "forecast-out", async () => {
    const file = byId("forecast-file").files[0];
    if (!file) throw new PageError("choose a CSV file first");
    const {inputs, labels, past} = forecastInputs(parseCsv(await file.text(), file.name), file.name);
    const forecast = (await predict({inputs})).outputs[0];  // [horizon, targets(, quantiles)]
    const q = s.quantiles;
    // the point forecast: the level nearest 0.5, the first on a tie (tasks/forecasting/model.py point_index)
    const nearest = (best, v, i) => (Math.abs(v - 0.5) < Math.abs(q[best] - 0.5) ? i : best);
    const point = q.length ? q.reduce(nearest, 0) : null;
    const value = (step, j, level) => (point === null ? forecast[step][j] : forecast[step][j][level]);
    const charts = s.targets.map((target, j) => chart(target, past.map((row) => row[j]),
      forecast.map((_, step) => value(step, j, point)),
      q.length ? forecast.map((_, step) => value(step, j, 0)) : null,
      q.length ? forecast.map((_, step) => value(step, j, q.length - 1)) : null));
    const columns = s.targets.flatMap((t) => (q.length ? q.map((level, i) => [t, i, `${t} q${level}`])
                                                        : [[t, null, t]]));
    const head = node("tr", {}, node("th", {}, s.time_column), ...columns.map((c) => node("th", {}, c[2])));
    const rows = labels.map((label, step) => node("tr", {}, node("td", {}, label),
      ...columns.map(([t, level]) => node("td", {class: "number"},
                                          value(step, s.targets.indexOf(t), level).toFixed(3)))));
    return [...charts, node("table", {id: "forecast-table"}, head, ...rows)];
  });
}

const VIEWS = {sentiment, ner, translation, language_model: languageModel, forecasting};
byId(SETTINGS.task).hidden = false;
VIEWS[SETTINGS.task]();
