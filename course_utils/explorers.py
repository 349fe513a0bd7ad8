"""Explorers that move in the static HTML book, with no kernel and no network.

Each function computes in Python, with the course's own operations, everything a reader
can ask for (responses, pooled maps, feature maps, receptive-field windows), packs the
arrays as bytes, and returns one self-contained piece of HTML: labelled native controls
(sliders, selectors, a play button, all usable from the keyboard), a canvas, and a small
script that only draws what was computed. Nothing is fetched; the output is the same on
every run for the same inputs, so nbval can compare it.

In a running kernel the same HTML works in Jupyter too; the chapters keep their
``ipywidgets`` explorers for readers who want to change the code.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json

import numpy as np
from IPython.display import HTML

from course_utils.ops import avg_pool2d, conv2d, max_pool2d, output_size

# Colour maps as 9 evenly spaced stops; the script interpolates between them.
_VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c",
            "#28ae80", "#5ec962", "#addc30", "#fde725"]
_DIVERGING = ["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
              "#fddbc7", "#f4a582", "#d6604d", "#b2182b"]

# Shared drawing code: decode bytes, map values to colours, draw grids of cells.
_COMMON_JS = """
const ctl = n => root.querySelector('[name="' + n + '"]');
const num = n => parseInt(ctl(n).value, 10);
const bytes = b64 => Uint8Array.from(atob(b64), c => c.charCodeAt(0));
const canvas = root.querySelector('canvas'), ctx = canvas.getContext('2d');
const status = root.querySelector('.cnn-explorer__status');
function hex(c) { return [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)); }
function cmap(stops, t) {
  t = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(t)), f = t - i;
  const a = hex(stops[i]), b = hex(stops[i + 1]);
  return 'rgb(' + a.map((v, k) => Math.round(v + f * (b[k] - v))).join(',') + ')';
}
const GRAY_R = ['#ffffff', '#000000'];
function drawMap(values, rows, cols, x0, y0, cell, stops, lo, hi) {
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    const v = values[i * cols + j];
    ctx.fillStyle = cmap(stops, hi > lo ? (v - lo) / (hi - lo) : 0.5);
    ctx.fillRect(x0 + j * cell, y0 + i * cell, cell, cell);
  }
}
function box(x, y, w, h, colour, width) {
  ctx.strokeStyle = colour; ctx.lineWidth = width; ctx.strokeRect(x, y, w, h);
}
function label(text, x, y) {
  ctx.fillStyle = '#222'; ctx.font = '14px sans-serif'; ctx.fillText(text, x, y);
}
function say(text) { status.textContent = text; canvas.setAttribute('aria-label', text); }
function player(steps, draw) {
  const button = root.querySelector('button[data-play]'), step = ctl('step');
  let timer = null;
  function stop() { clearInterval(timer); timer = null; button.textContent = 'Play'; }
  button.addEventListener('click', () => {
    if (timer) return stop();
    button.textContent = 'Pause';
    if (num('step') >= steps() - 1) step.value = 0;
    timer = setInterval(() => {
      if (num('step') >= steps() - 1) return stop();
      step.value = num('step') + 1; draw();
    }, 400);
    draw();
  });
  return stop;
}
root.querySelectorAll('input, select').forEach(e => e.addEventListener('input', () => {
  const out = root.querySelector('output[for="' + e.id + '"]');
  if (out) out.textContent = e.value;
  render();
}));
"""


def _b64(array) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode("ascii")


def _to_bytes(values, lo: float, hi: float):
    """Values scaled linearly from [lo, hi] to the integers 0..255."""
    values = np.asarray(values, dtype=np.float64)
    span = hi - lo if hi > lo else 1.0
    return np.clip(np.rint((values - lo) / span * 255), 0, 255).astype(np.uint8)


def _slider(uid: str, name: str, text: str, lo: int, hi: int, value: int) -> str:
    ident = f"{uid}-{name}"
    return (f'<label for="{ident}">{html.escape(text)}</label> '
            f'<input type="range" id="{ident}" name="{name}" min="{lo}" max="{hi}" value="{value}" step="1"> '
            f'<output for="{ident}">{value}</output>')


def _select(uid: str, name: str, text: str, options) -> str:
    ident = f"{uid}-{name}"
    items = "".join(f'<option value="{html.escape(str(o))}">{html.escape(str(o))}</option>' for o in options)
    return f'<label for="{ident}">{html.escape(text)}</label> <select id="{ident}" name="{name}">{items}</select>'


def _play_button() -> str:
    return '<button type="button" data-play aria-label="Play the sliding window">Play</button>'


def _page(kind: str, caption: str, controls: list[str], data: dict, script: str,
          width: int, height: int) -> HTML:
    """One explorer: a labelled group of controls, a canvas and its drawing script."""
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True)
    uid = "cnnx-" + kind + "-" + hashlib.sha1((kind + caption + payload).encode()).hexdigest()[:10]
    rows = "".join(f'<div class="cnn-explorer__control">{c}</div>' for c in controls)
    rows = rows.replace("{uid}", uid)
    text = (f'<div class="cnn-explorer" id="{uid}" role="group" aria-labelledby="{uid}-caption">\n'
            f'<p class="cnn-explorer__caption" id="{uid}-caption">{html.escape(caption)}</p>\n'
            f'<div class="cnn-explorer__controls">{rows}</div>\n'
            f'<canvas width="{width}" height="{height}" role="img" aria-label="{html.escape(caption)}"></canvas>\n'
            f'<p class="cnn-explorer__status" aria-live="polite"></p>\n'
            f'</div>\n'
            f'<script>(function () {{\n"use strict";\n'
            f'const root = document.getElementById("{uid}");\nconst DATA = {payload};\n'
            f'{_COMMON_JS}\n{script}\nrender();\n}})();</script>\n')
    return HTML(text)


def _uid_slider(name, text, lo, hi, value):
    return _slider("{uid}", name, text, lo, hi, value)


def _uid_select(name, text, options):
    return _select("{uid}", name, text, options)


def conv_explorer(images, labels, filters: dict) -> HTML:
    """Pick a digit and a filter; see the digit and the filter's response map.

    Parameters
    ----------
    images : array (N, W, W) with values in [0, 1]
    labels : sequence of N ints
    filters : dict of name -> array (H, H)

    Returns
    -------
    IPython.display.HTML
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images: expected an array of shape (N, W, W), got shape {images.shape}")
    if len(labels) != len(images):
        raise ValueError(f"labels: expected {len(images)} labels (one per image), got {len(labels)}")
    if not filters:
        raise ValueError("filters: expected at least one named filter, got none")
    names = list(filters)
    h = np.stack([np.asarray(filters[n], dtype=np.float64) for n in names], axis=-1)[:, :, None, :]
    responses = conv2d(images[..., None], h)                      # (N, W', W', M)
    reach = np.abs(responses).max(axis=(1, 2))                    # (N, M): symmetric colour range
    reach[reach == 0] = 1.0
    scaled = _to_bytes(responses / reach[:, None, None, :], -1.0, 1.0)
    data = {"W": images.shape[1], "Wout": responses.shape[1], "names": names,
            "labels": [int(v) for v in labels], "reach": np.round(reach, 4).tolist(),
            "images": _b64(_to_bytes(images, 0, 1)), "responses": _b64(scaled.transpose(0, 3, 1, 2)),
            "filters": np.round(h[:, :, 0, :].transpose(2, 0, 1), 4).tolist(),
            "div": _DIVERGING}
    script = """
const imgs = bytes(DATA.images), resp = bytes(DATA.responses);
const W = DATA.W, Wo = DATA.Wout, M = DATA.names.length;
function render() {
  const n = num('index'), m = DATA.names.indexOf(ctl('filter').value);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const cell = 8, top = 24;
  drawMap(imgs.subarray(n * W * W, (n + 1) * W * W), W, W, 0, top, cell, GRAY_R, 0, 255);
  const h = DATA.filters[m], H = h.length, fc = 24, fx = W * cell + 20;
  const reach = Math.max(...h.flat().map(Math.abs)) || 1;
  for (let p = 0; p < H; p++) for (let q = 0; q < H; q++) {
    ctx.fillStyle = cmap(DATA.div, (h[p][q] / reach + 1) / 2);
    ctx.fillRect(fx + q * fc, top + p * fc, fc, fc);
    ctx.fillStyle = '#000'; ctx.font = '10px sans-serif';
    ctx.fillText(String(+h[p][q].toFixed(2)), fx + q * fc + 2, top + p * fc + 15);
  }
  const rx = fx + H * fc + 20, start = (n * M + m) * Wo * Wo;
  drawMap(resp.subarray(start, start + Wo * Wo), Wo, Wo, rx, top, cell, DATA.div, 0, 255);
  label('test image ' + n + ' (label ' + DATA.labels[n] + ')', 0, 16);
  label('filter', fx, 16);
  label('response ' + Wo + 'x' + Wo, rx, 16);
  const r = DATA.reach[n][m];
  say('Test image ' + n + ' (label ' + DATA.labels[n] + ') convolved with the ' + DATA.names[m] +
      ' filter: a ' + Wo + 'x' + Wo + ' response from ' + (-r).toFixed(2) + ' (blue) to ' + r.toFixed(2) + ' (red).');
}
"""
    controls = [_uid_slider("index", "test image", 0, len(images) - 1, 0),
                _uid_select("filter", "filter", names)]
    W, Wo = images.shape[1], responses.shape[1]
    width = W * 8 + 20 + h.shape[0] * 24 + 20 + Wo * 8
    return _page("conv", "Convolution explorer: pick a test digit and a filter.", controls, data, script,
                 width, W * 8 + 30)


def stride_explorer(W: int = 7, H: int = 3, s: int = 2, P: int = 1,
                    max_W: int = 12, max_H: int = 7, max_s: int = 4, max_P: int = 3) -> HTML:
    """Slide an H x H filter over a W x W image with stride s and padding P.

    The output grid fills in as the filter moves; a play button animates it. Output sizes
    come from :func:`course_utils.ops.output_size` for every combination of the sliders.

    Returns
    -------
    IPython.display.HTML
    """
    for name, value, top in [("W", W, max_W), ("H", H, max_H), ("s", s, max_s)]:
        if not 1 <= value <= top:
            raise ValueError(f"{name}: expected an int from 1 to {top}, got {value!r}")
    if not 0 <= P <= max_P:
        raise ValueError(f"P: expected an int from 0 to {max_P}, got {P!r}")
    sizes = {f"{w},{h},{st},{p}": output_size(w, h, st, p)
             for w in range(1, max_W + 1) for h in range(1, max_H + 1)
             for st in range(1, max_s + 1) for p in range(0, max_P + 1) if h <= w + 2 * p}
    script = """
const stop = player(steps, render);
function size() { return DATA.sizes[[num('W'), num('H'), num('s'), num('P')].join(',')]; }
function steps() { const o = size(); return o ? o * o : 1; }
function render() {
  const W = num('W'), H = num('H'), s = num('s'), P = num('P'), Wo = size();
  const step = ctl('step');
  step.max = Math.max(0, steps() - 1);
  if (num('step') > step.max) step.value = step.max;
  root.querySelector('output[for="' + step.id + '"]').textContent = step.value;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const n = W + 2 * P, cell = Math.min(26, Math.floor(300 / n)), top = 24;
  label('input ' + W + 'x' + W + (P ? ', padded to ' + n + 'x' + n : ''), 0, 16);
  if (!Wo) {
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const pad = i < P || j < P || i >= P + W || j >= P + W;
      ctx.fillStyle = pad ? '#d9d9d9' : '#ffffff';
      ctx.fillRect(j * cell, top + i * cell, cell, cell); box(j * cell, top + i * cell, cell, cell, '#888', 1);
    }
    return say('The ' + H + 'x' + H + ' filter does not fit in the padded image (' + n + ' wide): no output.');
  }
  const t = num('step'), oi = Math.floor(t / Wo), oj = t % Wo;
  const read = new Set();
  for (let k = 0; k <= t; k++) {
    const a = Math.floor(k / Wo) * s, b = (k % Wo) * s;
    for (let p = 0; p < H; p++) for (let q = 0; q < H; q++) read.add((a + p) * n + b + q);
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const pad = i < P || j < P || i >= P + W || j >= P + W;
    ctx.fillStyle = read.has(i * n + j) ? (pad ? '#b8c7d9' : '#cfe3f7') : (pad ? '#d9d9d9' : '#ffffff');
    ctx.fillRect(j * cell, top + i * cell, cell, cell);
    box(j * cell, top + i * cell, cell, cell, '#888', 1);
  }
  box(oj * s * cell, top + oi * s * cell, H * cell, H * cell, '#d95f02', 3);
  const ox = n * cell + 40, oc = Math.min(26, Math.floor(200 / Wo));
  label('output ' + Wo + 'x' + Wo, ox, 16);
  for (let i = 0; i < Wo; i++) for (let j = 0; j < Wo; j++) {
    const k = i * Wo + j;
    ctx.fillStyle = k < t ? '#7fb2e5' : (k === t ? '#d95f02' : '#ffffff');
    ctx.fillRect(ox + j * oc, top + i * oc, oc, oc);
    box(ox + j * oc, top + i * oc, oc, oc, '#888', 1);
  }
  say('W=' + W + ', H=' + H + ', s=' + s + ', P=' + P + ': output ' + Wo + 'x' + Wo + ' (W\\' = floor((W + 2P - H) / s) + 1). ' +
      'Position ' + (t + 1) + ' of ' + Wo * Wo + ': output row ' + oi + ', column ' + oj +
      ' reads padded rows ' + oi * s + ' to ' + (oi * s + H - 1) + ', columns ' + oj * s + ' to ' + (oj * s + H - 1) + '.');
}
"""
    controls = [_uid_slider("W", "image width W", 1, max_W, W), _uid_slider("H", "filter size H", 1, max_H, H),
                _uid_slider("s", "stride s", 1, max_s, s), _uid_slider("P", "padding P", 0, max_P, P),
                _uid_slider("step", "filter position", 0, output_size(W, H, s, P) ** 2 - 1, 0),
                _play_button()]
    return _page("stride", "Stride and padding explorer: the filter slides, the output fills in.",
                 controls, {"sizes": sizes}, script, 600, 330)


def pooling_explorer(feature_maps, names, max_size: int = 4, max_stride: int = 4) -> HTML:
    """Max or average pooling of real feature maps, for every window size and stride.

    Parameters
    ----------
    feature_maps : array (W, W, C)
        The maps to pool (for example a convolution's ReLU output).
    names : sequence of C str
        A name for each channel.

    Returns
    -------
    IPython.display.HTML
    """
    maps = np.asarray(feature_maps, dtype=np.float64)
    if maps.ndim != 3 or maps.shape[0] != maps.shape[1]:
        raise ValueError(f"feature_maps: expected an array of shape (W, W, C), got shape {maps.shape}")
    if len(names) != maps.shape[2]:
        raise ValueError(f"names: expected {maps.shape[2]} names (one per channel), got {len(names)}")
    W = maps.shape[0]
    lo, hi = float(maps.min()), float(maps.max())
    pooled = {}
    for kind, pool in [("max", max_pool2d), ("average", avg_pool2d)]:
        for size in range(1, max_size + 1):
            for stride in range(1, max_stride + 1):
                out = pool(maps, size, stride)                        # (W', W', C)
                pooled[f"{kind},{size},{stride}"] = [out.shape[0], _b64(_to_bytes(out.transpose(2, 0, 1), lo, hi))]
    data = {"W": W, "names": list(names), "input": _b64(_to_bytes(maps.transpose(2, 0, 1), lo, hi)),
            "pooled": pooled, "lo": round(lo, 4), "hi": round(hi, 4), "viridis": _VIRIDIS}
    script = """
const input = bytes(DATA.input), W = DATA.W, cache = {};
const stop = player(steps, render);
function current() {
  const key = [ctl('kind').value, num('size'), num('stride')].join(',');
  if (!cache[key]) cache[key] = [DATA.pooled[key][0], bytes(DATA.pooled[key][1])];
  return cache[key];
}
function steps() { const o = current()[0]; return o * o; }
function render() {
  const c = DATA.names.indexOf(ctl('channel').value), size = num('size'), s = num('stride');
  const [Wo, out] = current(), step = ctl('step');
  step.max = steps() - 1;
  if (num('step') > step.max) step.value = step.max;
  root.querySelector('output[for="' + step.id + '"]').textContent = step.value;
  const t = num('step'), oi = Math.floor(t / Wo), oj = t % Wo;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const cell = 10, top = 24, ox = W * cell + 30;
  drawMap(input.subarray(c * W * W, (c + 1) * W * W), W, W, 0, top, cell, DATA.viridis, 0, 255);
  box(oj * s * cell, top + oi * s * cell, size * cell, size * cell, '#ff4b00', 3);
  const oc = Math.floor(W * cell / Wo);
  drawMap(out.subarray(c * Wo * Wo, (c + 1) * Wo * Wo), Wo, Wo, ox, top, oc, DATA.viridis, 0, 255);
  box(ox + oj * oc, top + oi * oc, oc, oc, '#ff4b00', 3);
  label(DATA.names[c] + ' feature map ' + W + 'x' + W, 0, 16);
  label(ctl('kind').value + ' pooled ' + Wo + 'x' + Wo, ox, 16);
  const v = out[c * Wo * Wo + t] / 255 * (DATA.hi - DATA.lo) + DATA.lo;
  say(ctl('kind').value + ' pooling of the ' + DATA.names[c] + ' map with a ' + size + 'x' + size +
      ' window and stride ' + s + ': ' + W + 'x' + W + ' becomes ' + Wo + 'x' + Wo +
      '. Output row ' + oi + ', column ' + oj + ' = ' + v.toFixed(2) + ' (same colour scale on both sides).');
}
"""
    controls = [_uid_select("channel", "feature map", names), _uid_select("kind", "pooling", ["max", "average"]),
                _uid_slider("size", "window size", 1, max_size, 2), _uid_slider("stride", "stride", 1, max_stride, 2),
                _uid_slider("step", "window position", 0, output_size(W, 2, 2) ** 2 - 1, 0), _play_button()]
    return _page("pool", "Pooling explorer: window size and stride over a real feature map.",
                 controls, data, script, 2 * W * 10 + 30, W * 10 + 30)


def feature_map_explorer(images, labels, maps: dict) -> HTML:
    """Pick a test image, a layer and a channel; see the image and that feature map.

    Parameters
    ----------
    images : array (N, W, W), the raw test images (any range; drawn dark = high)
    labels : sequence of N ints
    maps : dict of layer name -> array (N, h, w, C)
        Each map is drawn on its own colour scale, as ``imshow`` does.

    Returns
    -------
    IPython.display.HTML
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"images: expected an array of shape (N, W, W), got shape {images.shape}")
    layers, packed = list(maps), {}
    for name in layers:
        value = np.asarray(maps[name], dtype=np.float64)
        if value.ndim != 4 or value.shape[0] != len(images):
            raise ValueError(f"maps[{name!r}]: expected an array of shape ({len(images)}, h, w, C), "
                             f"got shape {value.shape}")
        lo = value.min(axis=(1, 2), keepdims=True)
        span = value.max(axis=(1, 2), keepdims=True) - lo
        scaled = np.where(span > 0, (value - lo) / np.where(span > 0, span, 1), 0.0)
        packed[name] = [value.shape[1], value.shape[3], _b64(_to_bytes(scaled.transpose(0, 3, 1, 2), 0, 1))]
    data = {"W": images.shape[1], "labels": [int(v) for v in labels], "maps": packed, "viridis": _VIRIDIS,
            "images": _b64(_to_bytes(images, images.min(), images.max()))}
    script = """
const imgs = bytes(DATA.images), W = DATA.W, cache = {};
function render() {
  const n = num('index'), layer = ctl('layer').value, [h, C, b64] = DATA.maps[layer];
  if (!cache[layer]) cache[layer] = bytes(b64);
  const channel = ctl('channel');
  channel.max = C - 1;
  if (num('channel') > C - 1) channel.value = C - 1;
  root.querySelector('output[for="' + channel.id + '"]').textContent = channel.value;
  const c = num('channel'), start = (n * C + c) * h * h;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const cell = 8, top = 24, ox = W * cell + 30;
  drawMap(imgs.subarray(n * W * W, (n + 1) * W * W), W, W, 0, top, cell, GRAY_R, 0, 255);
  const flat = Array.from(cache[layer].subarray(start, start + h * h));
  drawMap(flat, h, h, ox, top, Math.floor(W * cell / h), DATA.viridis, 0, 255);
  label('test image ' + n + ' (label ' + DATA.labels[n] + ')', 0, 16);
  label(layer + ' channel ' + c + ', ' + h + 'x' + h, ox, 16);
  const flatMap = flat.every(v => v === 0);
  say('Test image ' + n + ' (label ' + DATA.labels[n] + '), ' + layer + ' channel ' + c + ' (' + h + 'x' + h + ')' +
      (flatMap ? ': the map is flat (switched off by the ReLU everywhere).' : ', bright where it responds most.'));
}
"""
    max_channels = max(v[1] for v in packed.values())
    controls = [_uid_slider("index", "test image", 0, len(images) - 1, 0), _uid_select("layer", "layer", layers),
                _uid_slider("channel", "channel", 0, max_channels - 1, 0)]
    W = images.shape[1]
    return _page("maps", "Feature-map explorer: pick a test image, a layer and a channel.",
                 controls, data, script, 2 * W * 8 + 30, W * 8 + 30)


def layer_geometry(model) -> list[dict]:
    """Kernel, stride, padding and output size of each conv and pooling layer of a Keras model."""
    from course_utils.architectures import sliding_layers

    rows, size = [], int(model.inputs[0].shape[1])
    for layer, kernel, stride in sliding_layers(model):
        out = int(layer.output.shape[1])
        left = max((out - 1) * stride + kernel - size, 0) // 2 if layer.padding == "same" else 0
        rows.append({"layer": layer.name, "kernel": kernel, "stride": stride, "pad": left, "output": out})
        size = out
    return rows


def receptive_windows(geometry) -> list[dict]:
    """Receptive field r, jump J and first input pixel of unit 0 for each layer of ``layer_geometry``.

    Unit u of layer l reads input pixels ``offset + u * J`` to ``offset + u * J + r - 1`` (rows
    and columns alike; pixels outside the image are padding).

    Examples
    --------
    >>> [(r["size"], r["jump"], r["offset"]) for r in receptive_windows(
    ...     [{"layer": "c", "kernel": 3, "stride": 1, "pad": 0, "output": 26},
    ...      {"layer": "p", "kernel": 2, "stride": 2, "pad": 0, "output": 13}])]
    [(3, 1, 0), (4, 2, 0)]
    """
    size, jump, offset, rows = 1, 1, 0, []
    for row in geometry:
        offset -= row["pad"] * jump
        size += (row["kernel"] - 1) * jump
        jump *= row["stride"]
        rows.append({**row, "size": size, "jump": jump, "offset": offset})
    return rows


def receptive_field_explorer(image, models: dict) -> HTML:
    """Pick a model, a layer and one of its units; its input window lights up on a digit.

    Parameters
    ----------
    image : array (W, W), a test digit
    models : dict of name -> Keras model with a (W, W, K) input

    Returns
    -------
    IPython.display.HTML
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image: expected an array of shape (W, W), got shape {image.shape}")
    nets = {name: receptive_windows(layer_geometry(model)) for name, model in models.items()}
    options = [f"{name}: {row['layer']}" for name, rows in nets.items() for row in rows]
    flat = {f"{name}: {row['layer']}": row for name, rows in nets.items() for row in rows}
    data = {"W": image.shape[0], "image": _b64(_to_bytes(image, image.min(), image.max())), "layers": flat}
    script = """
const img = bytes(DATA.image), W = DATA.W;
function render() {
  const L = DATA.layers[ctl('layer').value], n = L.output;
  for (const name of ['row', 'col']) {
    const e = ctl(name); e.max = n - 1;
    if (num(name) > n - 1) e.value = n - 1;
    root.querySelector('output[for="' + e.id + '"]').textContent = e.value;
  }
  const u = num('row'), v = num('col'), cell = 10, top = 24;
  const r0 = L.offset + u * L.jump, c0 = L.offset + v * L.jump, r1 = r0 + L.size - 1, c1 = c0 + L.size - 1;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  drawMap(img, W, W, 0, top, cell, GRAY_R, 0, 255);
  ctx.fillStyle = 'rgba(255, 140, 0, 0.35)';
  const a = Math.max(r0, 0), b = Math.max(c0, 0), e = Math.min(r1, W - 1), f = Math.min(c1, W - 1);
  ctx.fillRect(b * cell, top + a * cell, (f - b + 1) * cell, (e - a + 1) * cell);
  box(c0 * cell, top + r0 * cell, L.size * cell, L.size * cell, '#d95f02', 3);
  const ox = W * cell + 30, oc = Math.max(2, Math.floor(W * cell / n));
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    ctx.fillStyle = (i === u && j === v) ? '#d95f02' : ((i + j) % 2 ? '#eeeeee' : '#dddddd');
    ctx.fillRect(ox + j * oc, top + i * oc, oc, oc);
  }
  label('input ' + W + 'x' + W, 0, 16);
  label(L.layer + ' units ' + n + 'x' + n, ox, 16);
  say(ctl('layer').value + ', unit (' + u + ', ' + v + ') of ' + n + 'x' + n + ' sees input rows ' + r0 + ' to ' + r1 +
      ' and columns ' + c0 + ' to ' + c1 + ': a ' + L.size + 'x' + L.size + ' window; neighbouring units are ' +
      L.jump + ' px apart.');
}
"""
    first = flat[options[0]]["output"]
    controls = [_uid_select("layer", "layer", options),
                _uid_slider("row", "unit row", 0, first - 1, first // 2),
                _uid_slider("col", "unit column", 0, first - 1, first // 2)]
    W = image.shape[0]
    return _page("rf", "Receptive-field explorer: pick a layer and a unit; its input window lights up.",
                 controls, data, script, 2 * W * 10 + 30, W * 10 + 30)
