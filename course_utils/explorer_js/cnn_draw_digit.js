// The draw-a-digit explorer of chapter 8 (course_utils.explorers.draw_digit_explorer).
//
// The reader draws a digit; MNIST's own preprocessing turns the drawing into the 28 x 28
// image the network sees; the trained source CNN runs on it here, in the page, with the
// weights the explorer carries (int8, one scale per output channel); its feature maps,
// pooled maps and ten probabilities are drawn. Nothing is fetched and no kernel runs.
// Needs cnn_explorers.js. Defined once per page.
//
// The book's notation: x the input image, z a layer's input or output after its
// activation, u before it; h_pqkm a filter bank (Keras' layout H x H x K x M), b_m a bias,
// V a dense layer's matrix. Every array is a flat typed array in Keras' channels-last
// order: element (i, j, k) of a W x W x K array is at index (i * W + j) * K + k.
window.CnnDrawDigit = window.CnnDrawDigit || (function () {
  "use strict";

  // ------------------------------------------------------------------------------------
  // MNIST's preprocessing, step by step as course_utils/mnist_preprocessing.py (the
  // reference the browser tests compare with). Python computes in integers; here the same
  // integers are computed in float64, which holds them exactly at these sizes (and each
  // division's floor is exact too), so both give the same pixels.
  const BOX = 20, FIELD = 28, INK_OPACITY = 128;

  // Step 1, ink: a canvas pixel is ink when its opacity is >= 128 of 255 (a bilevel
  // image, as NIST's scans were). rgba: the canvas's RGBA bytes, S x S pixels.
  function ink(rgba) {
    const mask = new Uint8Array(rgba.length / 4);
    for (let n = 0; n < mask.length; n++) mask[n] = rgba[4 * n + 3] >= INK_OPACITY ? 1 : 0;
    return mask;
  }

  // Step 2: the smallest rectangle holding every ink pixel, {top, left, h, w}, or null.
  function inkBoundingBox(mask, S) {
    let top = S, left = S, bottom = -1, right = -1;
    for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) {
      if (!mask[i * S + j]) continue;
      if (i < top) top = i;
      if (i > bottom) bottom = i;
      if (j < left) left = j;
      if (j > right) right = j;
    }
    return bottom < 0 ? null : { top, left, h: bottom - top + 1, w: right - left + 1 };
  }

  // How much of source pixel p lies in new pixel i, in units of 1/BOX of a source pixel:
  // source pixel p spans [BOX p, BOX (p + 1)), new pixel i spans [L i, L (i + 1)), with
  // L the rectangle's longer side (the scale BOX / L is the same on both axes).
  function overlaps(nSource, longest) {
    const nNew = Math.ceil(BOX * nSource / longest), rows = [];
    for (let i = 0; i < nNew; i++) {
      const row = new Float64Array(nSource);
      for (let p = 0; p < nSource; p++) {
        row[p] = Math.max(0, Math.min(BOX * (p + 1), longest * (i + 1)) - Math.max(BOX * p, longest * i));
      }
      rows.push(row);
    }
    return rows;
  }

  // Step 3: the ink's rectangle scaled so that its longer side is BOX pixels, with area
  // averaging (the anti-aliasing): grey = floor((510 n + L^2) / (2 L^2)), 255 times the
  // share of the new pixel's area that ink covers (n, in units of (1/BOX)^2), rounded half up.
  function fitIntoBox(mask, S) {
    const box = inkBoundingBox(mask, S);
    if (!box) return { rows: 0, cols: 0, grey: new Uint8Array(0) };
    const L = Math.max(box.h, box.w), A = overlaps(box.h, L), B = overlaps(box.w, L);
    const rows = A.length, cols = B.length, grey = new Uint8Array(rows * cols);
    const across = new Float64Array(box.h * cols);      // ink of source row p in new column j
    for (let p = 0; p < box.h; p++) for (let q = 0; q < box.w; q++) {
      if (!mask[(box.top + p) * S + box.left + q]) continue;
      for (let j = 0; j < cols; j++) across[p * cols + j] += B[j][q];
    }
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
      let n = 0;
      for (let p = 0; p < box.h; p++) n += A[i][p] * across[p * cols + j];
      grey[i * cols + j] = Math.floor((510 * n + L * L) / (2 * L * L));
    }
    return { rows, cols, grey };
  }

  // Step 4: placed in FIELD x FIELD with its centre of mass on pixel (14, 14), where
  // MNIST's digits have it: with mass M, row moment R = sum(i v) and pixel i's centre
  // counted as i, the top row is round(FIELD/2 - R/M), half up, = floor(((FIELD + 1) M - 2R) / (2M));
  // the same for columns.
  function centreByMass(image) {
    const field = new Uint8Array(FIELD * FIELD);
    let mass = 0, rowMoment = 0, colMoment = 0;
    for (let i = 0; i < image.rows; i++) for (let j = 0; j < image.cols; j++) {
      const v = image.grey[i * image.cols + j];
      mass += v; rowMoment += i * v; colMoment += j * v;
    }
    if (mass === 0) return field;
    const top = Math.floor(((FIELD + 1) * mass - 2 * rowMoment) / (2 * mass));
    const left = Math.floor(((FIELD + 1) * mass - 2 * colMoment) / (2 * mass));
    for (let i = 0; i < image.rows; i++) for (let j = 0; j < image.cols; j++) {
      const r = top + i, c = left + j;
      if (r >= 0 && r < FIELD && c >= 0 && c < FIELD) field[r * FIELD + c] = image.grey[i * image.cols + j];
    }
    return field;
  }

  // The whole preprocessing: canvas RGBA (S x S) -> the 28 x 28 grey levels 0..255.
  function preprocess(rgba, S) { return centreByMass(fitIntoBox(ink(rgba), S)); }

  // Move a 28 x 28 image by dy rows (down) and dx columns (right); the background fills in.
  function shifted(image, dy, dx) {
    const out = new Uint8Array(FIELD * FIELD);
    for (let i = 0; i < FIELD; i++) for (let j = 0; j < FIELD; j++) {
      const r = i - dy, c = j - dx;
      if (r >= 0 && r < FIELD && c >= 0 && c < FIELD) out[i * FIELD + j] = image[r * FIELD + c];
    }
    return out;
  }

  // ------------------------------------------------------------------------------------
  // The forward pass of the source CNN, from the book's equations.

  // Convolution layer with ReLU, stride 1, no padding (chapter 3, eq-conv-channels):
  //   u_ijm = sum_k sum_p sum_q z_{i+p, j+q, k} h_pqkm + b_m,   z'_ijm = f(u_ijm) = max(0, u_ijm)
  // z: W x W x K; h: H x H x K x M; returns z': (W-H+1) x (W-H+1) x M.
  function conv2dRelu(z, W, K, h, b, H, M) {
    const Wo = W - H + 1, out = new Float32Array(Wo * Wo * M), u = new Float64Array(M);
    for (let i = 0; i < Wo; i++) for (let j = 0; j < Wo; j++) {
      for (let m = 0; m < M; m++) u[m] = b[m];
      for (let p = 0; p < H; p++) for (let q = 0; q < H; q++) {
        const zAt = ((i + p) * W + (j + q)) * K, hAt = (p * H + q) * K * M;
        for (let k = 0; k < K; k++) {
          const v = z[zAt + k];
          if (v === 0) continue;                     // adds nothing (ReLU outputs are often 0)
          const row = hAt + k * M;
          for (let m = 0; m < M; m++) u[m] += v * h[row + m];
        }
      }
      const at = (i * Wo + j) * M;
      for (let m = 0; m < M; m++) out[at + m] = u[m] > 0 ? u[m] : 0;
    }
    return out;
  }

  // Max pooling, window H x H, stride s = H (chapter 4, eq-max-pool):
  //   u_ijk = max over (alpha, beta) in P_ij of z_{alpha beta k},
  //   P_ij = {(s i + p, s j + q): 0 <= p, q < H}
  function maxPool2d(z, W, K, H) {
    const s = H, Wo = Math.floor(W / s), out = new Float32Array(Wo * Wo * K);
    for (let i = 0; i < Wo; i++) for (let j = 0; j < Wo; j++) for (let k = 0; k < K; k++) {
      let best = -Infinity;
      for (let p = 0; p < H; p++) for (let q = 0; q < H; q++) {
        const alpha = s * i + p, beta = s * j + q;
        best = Math.max(best, z[(alpha * W + beta) * K + k]);
      }
      out[(i * Wo + j) * K + k] = best;
    }
    return out;
  }

  // Dense layer (chapter 5): u = z V + b, u_m = sum_n z_n V_nm + b_m; with relu, z' = max(0, u).
  // z: N values (a flattened W x W x K map is already in Keras' Flatten order); V: N x M.
  function dense(z, V, b, M, relu) {
    const u = new Float64Array(M);
    for (let m = 0; m < M; m++) u[m] = b[m];
    for (let n = 0; n < z.length; n++) {
      const v = z[n];
      if (v === 0) continue;
      const row = n * M;
      for (let m = 0; m < M; m++) u[m] += v * V[row + m];
    }
    if (relu) for (let m = 0; m < M; m++) u[m] = Math.max(0, u[m]);
    return u;
  }

  // Softmax (chapter 5, eq-softmax): hat y_c = e^{u_c} / sum_c' e^{u_c'}. Subtracting max u
  // from every u_c first changes nothing in the ratio and keeps e^u finite.
  function softmax(u) {
    const top = Math.max(...u), e = u.map(v => Math.exp(v - top));
    const total = e.reduce((a, v) => a + v, 0);
    return e.map(v => v / total);
  }

  // The weights the explorer carries, as float32 (chapter 8, eq-int8): h_pqkm = tilde h_pqkm tau_m,
  // tilde h the int8 kernel and tau_m the scale of output channel m, the last axis (V_nm alike).
  function loadModel(layers, bytes) {
    const model = {};
    for (const layer of layers) {
      const integers = new Int8Array(bytes(layer.kernel).buffer), M = layer.scale.length;
      const kernel = new Float32Array(integers.length);
      for (let n = 0; n < integers.length; n++) kernel[n] = integers[n] * layer.scale[n % M];
      model[layer.name] = { kernel, bias: Float32Array.from(layer.bias), shape: layer.shape };
    }
    return model;
  }

  // The source CNN on one 28 x 28 image of grey levels 0..255 (x = grey / 255, as
  // course_utils.data.scale_images). Dropout is off at inference: it does nothing here.
  function forward(model, grey) {
    const x = new Float32Array(FIELD * FIELD);
    for (let n = 0; n < x.length; n++) x[n] = grey[n] / 255;
    const c1 = model.conv1, c2 = model.conv2, d1 = model.dense1, out = model.output;
    const conv1 = conv2dRelu(x, 28, 1, c1.kernel, c1.bias, 3, 32);            // 26 x 26 x 32
    const conv2 = conv2dRelu(conv1, 26, 32, c2.kernel, c2.bias, 3, 64);       // 24 x 24 x 64
    const pool = maxPool2d(conv2, 24, 64, 2);                                 // 12 x 12 x 64
    const dense1 = dense(pool, d1.kernel, d1.bias, 128, true);                // 9216 -> 128
    const probabilities = softmax(dense(dense1, out.kernel, out.bias, 10, false));  // 128 -> 10
    return { conv1, conv2, pool, dense1, probabilities };
  }

  // ------------------------------------------------------------------------------------
  // The page: drawing, controls, and every layer drawn.

  // One canvas of maps: C maps of W x W (channels-last), in rows of `across`, 1 px apart,
  // each min-max scaled on its own, as the chapter's figures; a constant map (a channel
  // that ReLU switched off, or one that is its bias' ReLU everywhere) stays dark, as the
  // figures draw it. Returns how many maps vary over the input, i.e. respond to it.
  function drawMaps(canvas, maps, W, C, across, lut) {
    const ctx = canvas.getContext('2d'), image = ctx.createImageData(canvas.width, canvas.height);
    const low = new Float32Array(C).fill(Infinity), high = new Float32Array(C).fill(-Infinity);
    for (let n = 0; n < maps.length; n++) {
      const c = n % C;
      if (maps[n] < low[c]) low[c] = maps[n];
      if (maps[n] > high[c]) high[c] = maps[n];
    }
    image.data.fill(255);
    for (let c = 0; c < C; c++) {
      const x0 = (c % across) * (W + 1), y0 = Math.floor(c / across) * (W + 1), span = high[c] - low[c];
      for (let i = 0; i < W; i++) for (let j = 0; j < W; j++) {
        const level = span > 0 ? Math.round(255 * (maps[(i * W + j) * C + c] - low[c]) / span) : 0;
        const at = 4 * ((y0 + i) * canvas.width + x0 + j);
        image.data[at] = lut[3 * level]; image.data[at + 1] = lut[3 * level + 1]; image.data[at + 2] = lut[3 * level + 2];
      }
    }
    ctx.putImageData(image, 0, 0);
    let varying = 0;
    for (let c = 0; c < C; c++) if (high[c] > low[c]) varying++;
    return varying;
  }

  function start(root, DATA) {
    const X = window.CnnExplorers, S = 280, BRUSH = 20;
    const model = loadModel(DATA.model, X.bytes), digits = X.bytes(DATA.images);
    const lut = new Uint8Array(256 * 3);
    for (let v = 0; v < 256; v++) lut.set(X.rgb(DATA.viridis, v / 255), 3 * v);
    const find = name => root.querySelector('[data-part="' + name + '"]');
    const pad = find('pad'), padCtx = pad.getContext('2d'), view = find('input');
    const slider = root.querySelector('input[name="digit"]'), status = root.querySelector('.cnn-explorer__status');
    const bars = Array.from(root.querySelectorAll('[data-part="bars"] li'));
    let strokes = [], source = 'test', shift = [0, 0], drawing = false, pending = false;
    const api = { last: null, update, loadTestDigit };
    root.drawDigit = api;

    function drawPad() {
      padCtx.clearRect(0, 0, S, S);
      if (source === 'test') {
        const n = parseInt(slider.value, 10);
        for (let i = 0; i < FIELD; i++) for (let j = 0; j < FIELD; j++) {
          const v = digits[n * FIELD * FIELD + i * FIELD + j];
          if (!v) continue;
          padCtx.fillStyle = 'rgba(0, 0, 0, ' + (v / 255).toFixed(3) + ')';
          padCtx.fillRect(j * 10, i * 10, 10, 10);
        }
        return;
      }
      padCtx.strokeStyle = '#000'; padCtx.fillStyle = '#000';
      padCtx.lineWidth = BRUSH; padCtx.lineCap = 'round'; padCtx.lineJoin = 'round';
      for (const stroke of strokes) {
        if (stroke.length === 1) {       // a dot
          padCtx.beginPath(); padCtx.arc(stroke[0][0], stroke[0][1], BRUSH / 2, 0, 2 * Math.PI); padCtx.fill();
          continue;
        }
        padCtx.beginPath(); padCtx.moveTo(stroke[0][0], stroke[0][1]);
        for (const [x, y] of stroke.slice(1)) padCtx.lineTo(x, y);
        padCtx.stroke();
      }
    }

    // The 28 x 28 image the network sees: a test digit as it is, or the drawing
    // preprocessed as MNIST's digits were; then the reader's shift.
    function networkInput() {
      let grey;
      if (source === 'test') {
        const n = parseInt(slider.value, 10);
        grey = digits.slice(n * FIELD * FIELD, (n + 1) * FIELD * FIELD);
      } else {
        grey = preprocess(padCtx.getImageData(0, 0, S, S).data, S);
      }
      return { unshifted: grey, grey: shifted(grey, shift[0], shift[1]) };
    }

    function describe(top, p) {
      const moved = [];
      if (shift[0]) moved.push(Math.abs(shift[0]) + ' px ' + (shift[0] > 0 ? 'down' : 'up'));
      if (shift[1]) moved.push(Math.abs(shift[1]) + ' px ' + (shift[1] > 0 ? 'right' : 'left'));
      const what = source === 'test'
        ? 'Test digit ' + slider.value + ' (label ' + DATA.labels[parseInt(slider.value, 10)] + ')'
        : (strokes.length ? 'Your drawing' : 'An empty drawing');
      return what + (moved.length ? ', shifted ' + moved.join(' and ') : '') +
        ': the network reads ' + top + ' with probability ' + p.toFixed(3) + '.';
    }

    // Run the network on the current input and draw every layer; `announce` also updates
    // the text for screen readers (not on every move of a stroke).
    function update(announce) {
      pending = false;
      const input = networkInput(), out = forward(model, input.grey), p = out.probabilities;
      const viewCtx = view.getContext('2d'), image = viewCtx.createImageData(FIELD, FIELD);
      for (let n = 0; n < FIELD * FIELD; n++) {
        const v = 255 - input.grey[n];
        image.data.set([v, v, v, 255], 4 * n);
      }
      viewCtx.putImageData(image, 0, 0);
      let top = 0;
      for (let c = 1; c < 10; c++) if (p[c] > p[top]) top = c;
      bars.forEach((li, c) => {
        li.querySelector('.cnn-draw__fill').style.width = (100 * p[c]).toFixed(1) + '%';
        li.querySelector('.cnn-draw__value').textContent = p[c].toFixed(3);
        li.classList.toggle('cnn-draw__top', c === top);
      });
      const counts = [drawMaps(find('conv1'), out.conv1, 26, 32, 8, lut),
                      drawMaps(find('conv2'), out.conv2, 24, 64, 8, lut),
                      drawMaps(find('pool'), out.pool, 12, 64, 8, lut)];
      api.last = { input: input.grey, unshifted: input.unshifted, source, shift: shift.slice(), ...out };
      if (announce) {
        const text = describe(top, p[top]);
        status.textContent = text;
        pad.setAttribute('aria-label', 'Drawing area (draw a digit; arrow keys shift it). ' + text);
        view.setAttribute('aria-label', 'The 28 x 28 image the network sees. ' + text);
        [['conv1', 32, 26], ['conv2', 64, 24], ['pool', 64, 12]].forEach(([name, C, W], n) => {
          find(name).setAttribute('aria-label', name + ': ' + C + ' feature maps of ' + W + ' x ' + W + '; ' +
            counts[n] + ' of ' + C + ' respond to this input, the others are constant (bright: strong response).');
        });
      }
      root.dispatchEvent(new CustomEvent('cnn-draw-digit-update', { detail: { announce } }));
    }

    function later() {
      if (!pending) { pending = true; requestAnimationFrame(() => pending && update(false)); }
    }

    function loadTestDigit(n) {
      slider.value = n;
      root.querySelector('output[for="' + slider.id + '"]').textContent = slider.value;
      source = 'test'; strokes = []; shift = [0, 0];
      drawPad(); update(true);
    }

    function move(dy, dx) { shift = [shift[0] + dy, shift[1] + dx]; update(true); }

    function point(e) {
      const r = pad.getBoundingClientRect();
      return [(e.clientX - r.left) * S / r.width, (e.clientY - r.top) * S / r.height];
    }

    pad.addEventListener('pointerdown', e => {
      if (e.button !== 0) return;
      e.preventDefault();
      pad.setPointerCapture(e.pointerId);
      if (source !== 'draw') { source = 'draw'; strokes = []; }
      drawing = true; shift = [0, 0];
      strokes.push([point(e)]);
      drawPad(); later();
    });
    pad.addEventListener('pointermove', e => {
      if (!drawing) return;
      const stroke = strokes[strokes.length - 1];
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];   // every point a fast pen passed
      for (const each of events.length ? events : [e]) stroke.push(point(each));
      drawPad(); later();
    });
    const end = () => { if (!drawing) return; drawing = false; update(true); };
    pad.addEventListener('pointerup', end);
    pad.addEventListener('pointercancel', end);
    pad.addEventListener('keydown', e => {
      const step = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[e.key];
      if (!step) return;
      e.preventDefault();
      move(step[0], step[1]);
    });
    root.querySelectorAll('button[data-shift]').forEach(b => b.addEventListener('click', () => {
      const [dy, dx] = b.dataset.shift.split(',').map(Number);
      move(dy, dx);
    }));
    root.querySelector('button[data-action="undo"]').addEventListener('click', () => {
      if (source !== 'draw') return;
      strokes.pop(); shift = [0, 0]; drawPad(); update(true);
    });
    root.querySelector('button[data-action="clear"]').addEventListener('click', () => {
      source = 'draw'; strokes = []; shift = [0, 0]; drawPad(); update(true);
    });
    slider.addEventListener('input', () => loadTestDigit(parseInt(slider.value, 10)));
    loadTestDigit(parseInt(slider.value, 10));
  }

  return { preprocess, ink, inkBoundingBox, fitIntoBox, centreByMass, shifted,
           conv2dRelu, maxPool2d, dense, softmax, loadModel, forward, start };
})();
