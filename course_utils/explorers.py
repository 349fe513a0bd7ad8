"""Explorers that move in the static HTML book, with no kernel and no network.

Each function computes in Python, with the course's own operations, everything a reader
can ask for (responses, pooled maps, feature maps, receptive-field windows), packs the
arrays as bytes, and returns one self-contained piece of HTML: labelled native controls
(sliders, selectors, a play button, all usable from the keyboard), a canvas, and a small
script that only draws what was computed. :func:`draw_digit_explorer` is the exception:
it carries the trained network's weights, and the page runs the network on the reader's
own drawing. Nothing is fetched; the output is the same on every run for the same inputs,
so nbval can compare it.

The data travels as JSON in a ``<script type="application/json">`` element, escaped so
that nothing in it can end the element (:func:`script_json`). The JavaScript the explorers
share lives once, in ``explorer_js/`` (package data); each output carries the files it
needs inline, and the book serves each file once per page instead (:func:`libraries_once`).

In a running kernel the same HTML works in Jupyter too; the chapters keep their
``ipywidgets`` explorers for readers who want to change the code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from pathlib import Path

import numpy as np
from IPython.display import HTML

from course_utils.ops import avg_pool2d, conv2d, max_pool2d, output_size

# Colour maps as 9 evenly spaced stops; the script interpolates between them.
_VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c",
            "#28ae80", "#5ec962", "#addc30", "#fde725"]
_DIVERGING = ["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
              "#fddbc7", "#f4a582", "#d6604d", "#b2182b"]

# The explorers' shared JavaScript (and the draw-a-digit explorer's) lives in these files,
# package data; an explorer's output carries the ones it needs inline (see library_tag).
LIBRARY_DIR = Path(__file__).resolve().parent / "explorer_js"
LIBRARIES = ("cnn_explorers.js", "cnn_draw_digit.js")


@functools.cache
def _library(name: str) -> str:
    text = (LIBRARY_DIR / name).read_text(encoding="utf-8")
    if "</script" in text.lower():
        raise ValueError(f"{name}: a library inlined into <script> must not contain '</script'")
    return text


def library_tag(name: str) -> str:
    """The inline ``<script>`` that carries library ``name`` in an explorer's output."""
    return f'<script data-cnn-library="{name}">\n{_library(name)}</script>'


def libraries_once(page: str, url_of) -> str:
    """A built page with each inlined library replaced by one ``<script src>`` where it first appears.

    An explorer's output carries its libraries inline, so it works alone in Jupyter or
    Colab; a page of the book loads each once, from ``url_of(name)``, and the browser keeps
    it for every other page (``config/sphinx/offline_book.py``).

    Examples
    --------
    >>> page = "<p>a</p>" + library_tag("cnn_explorers.js") + "<p>b</p>" + library_tag("cnn_explorers.js")
    >>> libraries_once(page, lambda name: "../_static/" + name)
    '<p>a</p><script src="../_static/cnn_explorers.js" data-cnn-library="cnn_explorers.js"></script><p>b</p>'
    """
    for name in LIBRARIES:
        inline = library_tag(name)
        first = page.find(inline)
        if first >= 0:
            link = f'<script src="{html.escape(url_of(name))}" data-cnn-library="{name}"></script>'
            page = page[:first] + link + page[first + len(inline):].replace(inline, "")
    return page


def script_json(data) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` are written as JSON escapes (``\\u003c`` ...), so no string in
    the data, such as ``</script>`` or ``<!--``, can end or change the element; JSON.parse
    reads the same values.

    >>> script_json({"name": "</script><b>"})
    '{"name":"\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e"}'
    """
    text = json.dumps(data, separators=(",", ":"), sort_keys=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


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


def _explorer(kind: str, caption: str, body: str, data: dict, script: str,
              libraries=("cnn_explorers.js",), lang: str | None = None) -> HTML:
    """One explorer: a labelled group holding ``body``, its data as JSON, the libraries it
    needs and its own ``script``, which runs with ``root`` (the group) and ``DATA``.
    ``lang`` marks the language of its text (``"en"``), for a page in another language."""
    payload = script_json(data)
    uid = "cnnx-" + kind + "-" + hashlib.sha1((kind + caption + payload).encode()).hexdigest()[:10]
    lang_attribute = f' lang="{lang}"' if lang else ""
    text = (f'<div class="cnn-explorer cnn-explorer--{kind}" id="{uid}"{lang_attribute} role="group" '
            f'aria-labelledby="{uid}-caption">\n'
            f'<p class="cnn-explorer__caption" id="{uid}-caption">{html.escape(caption)}</p>\n'
            f'{body.replace("{uid}", uid)}\n'
            f'<script type="application/json" id="{uid}-data">{payload}</script>\n'
            + "\n".join(library_tag(name) for name in libraries) +
            f'\n<script>(function () {{\n"use strict";\n'
            f'const root = document.getElementById("{uid}");\n'
            f'const DATA = JSON.parse(document.getElementById("{uid}-data").textContent);\n'
            f'{script}\n}})();</script>\n'
            f'</div>\n')
    return HTML(text)


def _page(kind: str, caption: str, controls: list[str], data: dict, script: str,
          width: int, height: int) -> HTML:
    """An explorer made of labelled controls, one canvas drawn by ``script``'s ``render()``,
    and a status line for screen readers, with the shared helpers of cnn_explorers.js."""
    rows = "".join(f'<div class="cnn-explorer__control">{c}</div>' for c in controls)
    body = (f'<div class="cnn-explorer__controls">{rows}</div>\n'
            f'<canvas width="{width}" height="{height}" role="img" aria-label="{html.escape(caption)}"></canvas>\n'
            f'<p class="cnn-explorer__status" aria-live="polite"></p>')
    script = ("const {ctl, num, bytes, cmap, GRAY_R, canvas, ctx, drawMap, box, label, say, player, listen} =\n"
              "  CnnExplorers.explorer(root);\n" + script + "\nlisten(render);\nrender();")
    return _explorer(kind, caption, body, data, script)


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


# What the draw-a-digit explorer's forward pass expects: the source CNN's layers with weights.
DRAW_DIGIT_LAYERS = {"conv1": (3, 3, 1, 32), "conv2": (3, 3, 32, 64), "dense1": (9216, 128), "output": (128, 10)}


# The draw-a-digit explorer's layout, carried in its output so that it holds in Jupyter too:
# the drawing area and the network's side by side, one under the other on a phone; the maps
# below, pooled maps at twice conv2's scale so that each pooled unit sits over its window.
_DRAW_DIGIT_CSS = """
.cnn-draw { display: flex; flex-wrap: wrap; gap: 1rem 1.5rem; align-items: flex-start; }
.cnn-draw__panel { flex: 0 1 280px; min-width: 0; max-width: 100%; }
.cnn-draw canvas { display: block; max-width: 100%; height: auto; background: #fff; }
.cnn-draw canvas.cnn-draw__pad { width: 280px; border: 1px solid #767676; touch-action: none; cursor: crosshair; }
.cnn-draw canvas.cnn-draw__input { width: 112px; border: 1px solid #767676; image-rendering: pixelated; }
.cnn-draw__help, .cnn-draw__title { font-size: 0.9rem; margin: 0.3rem 0; }
.cnn-draw__bars { list-style: none; padding: 0; margin: 0.3rem 0; font-variant-numeric: tabular-nums; }
.cnn-draw__bars li { display: flex; align-items: center; gap: 0.5rem; margin: 0; line-height: 1.35; }
.cnn-draw__digit { width: 1ch; }
.cnn-draw__bar { flex: 1 1 auto; height: 0.8em; background: #e8e8e8; }
.cnn-draw__fill { display: block; height: 100%; width: 0; background: #3b528b; }
.cnn-draw__top { font-weight: 700; }
.cnn-draw__maps { display: flex; flex-wrap: wrap; gap: 0.5rem 1.5rem; margin-top: 0.8rem; }
.cnn-draw__maps canvas { display: block; max-width: 100%; height: auto; image-rendering: pixelated; }
.cnn-draw__maps canvas[data-part="conv1"] { width: 430px; }
.cnn-draw__maps canvas[data-part="conv2"] { width: 398px; }
.cnn-draw__maps canvas[data-part="pool"] { width: 412px; }
.cnn-draw__layer { max-width: 100%; }
"""


def _draw_digit_body(n_images: int) -> str:
    bars = "".join(f'<li><span class="cnn-draw__digit">{c}</span><span class="cnn-draw__bar">'
                   f'<span class="cnn-draw__fill"></span></span><span class="cnn-draw__value">0.000</span></li>'
                   for c in range(10))
    shifts = "".join(f'<button type="button" data-shift="{step}" aria-label="Shift the digit {word} by one pixel">'
                     f'{word}</button>' for word, step in [("left", "0,-1"), ("right", "0,1"), ("up", "-1,0"),
                                                           ("down", "1,0")])
    layers = "".join(f'<div class="cnn-draw__layer"><p class="cnn-draw__title">{title}</p>'
                     f'<canvas data-part="{name}" width="{8 * (side + 1) - 1}" height="{rows * (side + 1) - 1}" '
                     f'role="img" aria-label="{title}"></canvas></div>'
                     for name, title, side, rows in [("conv1", "conv1: 32 feature maps, 26 x 26", 26, 4),
                                                     ("conv2", "conv2: 64 feature maps, 24 x 24", 24, 8),
                                                     ("pool", "pooled: 64 maps, 12 x 12", 12, 8)])
    return (
        f'<style>{_DRAW_DIGIT_CSS}</style>\n'
        '<div class="cnn-draw">\n<div class="cnn-draw__panel">\n'
        '<canvas class="cnn-draw__pad" data-part="pad" width="280" height="280" tabindex="0" role="img" '
        'aria-label="Drawing area" aria-describedby="{uid}-help"></canvas>\n'
        '<p class="cnn-draw__help" id="{uid}-help">Draw a digit with a mouse, a pen or a finger. '
        'From the keyboard: choose a test digit with the slider; the arrow keys on the drawing area, '
        'or the buttons, shift the digit by one pixel.</p>\n'
        '<div class="cnn-explorer__controls">'
        '<div class="cnn-explorer__control"><button type="button" data-action="undo" '
        'aria-label="Undo the last stroke">Undo</button><button type="button" data-action="clear" '
        'aria-label="Clear the drawing">Clear</button></div>'
        f'<div class="cnn-explorer__control" role="group" aria-label="Shift the digit">shift: {shifts}</div>'
        f'<div class="cnn-explorer__control">{_slider("{uid}", "digit", "test digit", 0, n_images - 1, 0)}</div>'
        '</div>\n</div>\n<div class="cnn-draw__panel">\n'
        '<p class="cnn-draw__title">The 28 x 28 image the network sees</p>\n'
        '<canvas class="cnn-draw__input" data-part="input" width="28" height="28" role="img" '
        'aria-label="The 28 x 28 image the network sees"></canvas>\n'
        '<p class="cnn-explorer__status" aria-live="polite"></p>\n'
        '<p class="cnn-draw__title" id="{uid}-bars">The ten probabilities (softmax output)</p>\n'
        f'<ol class="cnn-draw__bars" data-part="bars" aria-labelledby="{{uid}}-bars">{bars}</ol>\n'
        f'</div>\n</div>\n<div class="cnn-draw__maps">{layers}</div>')


def draw_digit_explorer(model, images, labels) -> HTML:
    """Draw a digit, or pick a test digit: the trained source CNN runs on it in the page.

    The page preprocesses the drawing as MNIST's digits were (the steps of
    :mod:`course_utils.mnist_preprocessing`), runs the network's forward pass in JavaScript
    (``explorer_js/cnn_draw_digit.js``) and draws the 28 x 28 input, the conv1, conv2 and
    pooled feature maps and the ten probabilities. The kernels travel as int8 with one
    scale per output channel (:mod:`course_utils.quantization`), the biases as float32.
    Its text is English, marked ``lang="en"`` for the Japanese page, which shows the same
    output.

    Parameters
    ----------
    model : Keras model
        The source CNN (``course_utils.models.build_source_cnn``), trained: its layers with
        weights, conv1, conv2, dense1 and output, with the names and shapes it gives them.
    images : uint8 array (N, 28, 28)
        Test digits the reader can load from the keyboard.
    labels : sequence of N ints

    Returns
    -------
    IPython.display.HTML
    """
    from course_utils.quantization import quantized_weights

    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"images: expected uint8 test digits of shape (N, 28, 28), "
                         f"got {images.dtype} of shape {images.shape}")
    if len(labels) != len(images):
        raise ValueError(f"labels: expected {len(images)} labels (one per image), got {len(labels)}")
    layers = quantized_weights(model)
    shapes = {entry["name"]: entry["kernel"].shape for entry in layers}
    if shapes != DRAW_DIGIT_LAYERS:
        raise ValueError(f"model: expected the source CNN, whose layers with weights are {DRAW_DIGIT_LAYERS}, "
                         f"got {shapes}")
    data = {"model": [{"name": e["name"], "shape": list(e["kernel"].shape),
                       "kernel": base64.b64encode(e["kernel"].view(np.uint8).tobytes()).decode("ascii"),
                       "scale": [float(v) for v in e["scale"]], "bias": [float(v) for v in e["bias"]]}
                      for e in layers],
            "images": _b64(images), "labels": [int(v) for v in labels], "viridis": _VIRIDIS}
    return _explorer("draw", "Draw a digit: the trained network runs in this page on what you draw.",
                     _draw_digit_body(len(images)), data, "CnnDrawDigit.start(root, DATA);",
                     libraries=("cnn_explorers.js", "cnn_draw_digit.js"), lang="en")
