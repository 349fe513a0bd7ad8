"""The in-page explorers: labelled controls, the arrays they draw, size, determinism, data
that cannot end its <script> element, and shared JavaScript that lives once."""

import base64
import html.parser
import json
import re

import numpy as np
import pytest

from course_utils.explorers import (LIBRARY_DIR, conv_explorer, draw_digit_explorer, feature_map_explorer,
                                    libraries_once, library_tag, pooling_explorer, receptive_field_explorer,
                                    receptive_windows, layer_geometry, stride_explorer)
from course_utils.ops import conv2d, max_pool2d, output_size

EDGE = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)
RNG = np.random.default_rng(0)
IMAGES = RNG.random((3, 12, 12))


def payload(html):
    return json.loads(re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', html).group(1))


class Elements(html.parser.HTMLParser):
    """The start tags of a page, and the text of each <script>, as a browser splits them."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.scripts = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "script":
            self.scripts.append("")

    def handle_data(self, data):
        if self.lasttag == "script" and self.scripts:
            self.scripts[-1] += data


def decode(b64):
    return np.frombuffer(base64.b64decode(b64), dtype=np.uint8)


def explorers():
    return {"conv": conv_explorer(IMAGES, [1, 2, 3], {"edge": EDGE, "blur": np.ones((3, 3)) / 9}),
            "stride": stride_explorer(),
            "pool": pooling_explorer(np.maximum(conv2d(IMAGES[0][:, :, None], EDGE[:, :, None, None]), 0), ["edge"]),
            "maps": feature_map_explorer(IMAGES, [1, 2, 3], {"a": RNG.random((3, 10, 10, 4))}),
            "draw": draw_digit_explorer(untrained_source_cnn(), DIGITS, list(range(5)))}


DIGITS = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8)


def untrained_source_cnn():
    from course_utils.models import build_source_cnn

    return build_source_cnn(compiled=False)


@pytest.mark.parametrize("name", ["conv", "stride", "pool", "maps", "draw"])
def test_every_control_has_a_label_and_the_page_is_self_contained(name):
    text = explorers()[name].data
    ids = re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', text)
    labelled = set(re.findall(r'<label for="([^"]+)"', text))
    assert ids and set(ids) <= labelled, f"unlabelled controls: {set(ids) - labelled}"
    assert all(re.search(r'<button[^>]*aria-label="[^"]+"', b) for b in re.findall(r"<button[^>]*>", text))
    assert 'role="img"' in text and "aria-live" in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text), "an explorer must fetch nothing"
    assert len(text.encode()) < 2_000_000


def test_the_same_inputs_give_the_same_html():
    assert explorers()["conv"].data == explorers()["conv"].data


def test_conv_explorer_draws_the_course_convolution():
    data = payload(explorers()["conv"].data)
    response = conv2d(IMAGES[1][:, :, None], EDGE[:, :, None, None])[:, :, 0]
    drawn = decode(data["responses"]).reshape(3, 2, 10, 10)[1, 0].astype(float) / 255 * 2 - 1
    assert np.abs(drawn * data["reach"][1][0] - response).max() <= data["reach"][1][0] / 255 + 1e-9


def test_pooling_explorer_draws_the_course_max_pool():
    maps = np.maximum(conv2d(IMAGES[0][:, :, None], EDGE[:, :, None, None]), 0)
    data = payload(pooling_explorer(maps, ["edge"]).data)
    size, b64 = data["pooled"]["max,3,2"]
    drawn = decode(b64).reshape(size, size) / 255 * (data["hi"] - data["lo"]) + data["lo"]
    assert size == output_size(10, 3, 2)
    assert np.abs(drawn - max_pool2d(maps, 3, 2)[:, :, 0]).max() <= (data["hi"] - data["lo"]) / 255 + 1e-9


def test_stride_explorer_sizes_follow_the_formula():
    sizes = payload(stride_explorer().data)["sizes"]
    assert sizes["7,3,2,1"] == output_size(7, 3, 2, 1) == 4
    assert "3,7,1,0" not in sizes   # the filter does not fit


def test_receptive_windows_match_the_architecture_module():
    from course_utils.architectures import receptive_fields
    from course_utils.models import build_small_cnn, build_source_cnn

    for model in [build_source_cnn(compiled=False), build_small_cnn(compiled=False)]:
        ours = [(r["layer"], r["size"], r["jump"]) for r in receptive_windows(layer_geometry(model))]
        assert ours == [(r["layer"], r["size"], r["jump"]) for r in receptive_fields(model)]
    html = receptive_field_explorer(IMAGES[0], {"source": build_source_cnn(compiled=False)}).data
    assert '<label for="' in html and "source: conv2" in html


def test_same_padding_moves_the_window_to_the_left():
    rows = receptive_windows([{"layer": "c", "kernel": 3, "stride": 1, "pad": 1, "output": 28},
                              {"layer": "p", "kernel": 2, "stride": 2, "pad": 0, "output": 14}])
    assert [(r["size"], r["jump"], r["offset"]) for r in rows] == [(3, 1, -1), (4, 2, -1)]


@pytest.mark.parametrize("call, argument", [
    (lambda: conv_explorer(np.zeros((2, 5, 6)), [0, 1], {"e": EDGE}), "images"),
    (lambda: conv_explorer(np.zeros((2, 5, 5)), [0], {"e": EDGE}), "labels"),
    (lambda: stride_explorer(W=0), "W"),
    (lambda: stride_explorer(P=9), "P"),
    (lambda: pooling_explorer(np.zeros((5, 5, 2)), ["one"]), "names"),
    (lambda: feature_map_explorer(np.zeros((2, 5, 5)), [0, 1], {"a": np.zeros((3, 4, 4, 1))}), "maps"),
    (lambda: draw_digit_explorer(untrained_source_cnn(), np.zeros((2, 28, 28)), [0, 1]), "images"),
    (lambda: draw_digit_explorer(untrained_source_cnn(), DIGITS, [0]), "labels"),
    (lambda: draw_digit_explorer(_small_cnn(), DIGITS, list(range(5))), "model"),
])
def test_errors_name_the_argument(call, argument):
    with pytest.raises(ValueError, match=f"^{re.escape(argument)}"):
        call()


def test_data_cannot_end_its_script_element():
    name = "</script><script>alert('x')</script><!--"
    text = conv_explorer(IMAGES, [1, 2, 3], {name: EDGE}).data
    parsed = Elements(text)
    assert parsed.tags.count("script") == 3          # data, cnn_explorers.js, the explorer's own
    assert payload(text)["names"] == [name]
    assert "</script" not in parsed.scripts[0] and "<!--" not in parsed.scripts[0]


def test_the_shared_javascript_lives_once():
    """One file holds it; each output carries it once; a page of the book loads it once."""
    shared = (LIBRARY_DIR / "cnn_explorers.js").read_text()
    outputs = [e.data for e in explorers().values()]
    assert all(text.count(library_tag("cnn_explorers.js")) == 1 for text in outputs)
    assert all(text.count("function cmap(") == 1 for text in outputs)
    page = "<main>" + "".join(outputs) + "</main>"
    once = libraries_once(page, lambda name: f"../_static/{name}")
    assert shared not in once and once.count('<script src="../_static/cnn_explorers.js"') == 1
    assert once.count('<script src="../_static/cnn_draw_digit.js"') == 1
    assert once.index("cnn_explorers.js") < once.index("CnnExplorers.explorer(root)")


def test_draw_digit_explorer_carries_the_int8_weights_and_the_digits():
    from course_utils.quantization import dequantize

    model = untrained_source_cnn()
    html = draw_digit_explorer(model, DIGITS, list(range(5))).data
    assert ' lang="en" ' in html.split(">", 1)[0], "the explorer's English text is not marked for the Japanese page"
    data = payload(html)
    assert [layer["name"] for layer in data["model"]] == ["conv1", "conv2", "dense1", "output"]
    for layer in data["model"]:
        kernel, bias = model.get_layer(layer["name"]).get_weights()
        q = np.frombuffer(base64.b64decode(layer["kernel"]), dtype=np.int8).reshape(layer["shape"])
        assert np.abs(dequantize(q, layer["scale"]) - kernel).max() <= max(layer["scale"]) / 2 + 1e-9
        assert np.array_equal(np.float32(layer["bias"]), bias)
    assert np.array_equal(decode(data["images"]).reshape(DIGITS.shape), DIGITS)


def test_draw_digit_explorer_fits_the_budget():
    """The source CNN's int8 weights and 100 digits: under the page's 2 MB budget."""
    text = draw_digit_explorer(untrained_source_cnn(), np.zeros((100, 28, 28), np.uint8), [0] * 100).data
    assert len(text.encode()) < 2_000_000


def _small_cnn():
    from course_utils.models import build_small_cnn

    return build_small_cnn(compiled=False)
