// Shared code of the course's explorers (course_utils/explorers.py): decode the bytes an
// explorer carries, map values to colours, draw grids of cells on its canvas, describe the
// canvas for screen readers, animate a slider, redraw when a control changes.
//
// This file is the only copy. An explorer's output carries it inline, so that the output
// works on its own in Jupyter or Colab; the book's pages load it once from _static instead
// (config/sphinx/offline_book.py replaces the inline copies). Defined once per page.
window.CnnExplorers = window.CnnExplorers || (function () {
  "use strict";

  // Base64 text -> bytes.
  function bytes(b64) {
    const text = atob(b64), out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }
  function hex(c) { return [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)); }
  // The colour at t in [0, 1] of a map given as evenly spaced stops, as [r, g, b].
  function rgb(stops, t) {
    t = Math.min(1, Math.max(0, t)) * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(t)), f = t - i;
    const a = hex(stops[i]), b = hex(stops[i + 1]);
    return a.map((v, k) => Math.round(v + f * (b[k] - v)));
  }
  function cmap(stops, t) { return 'rgb(' + rgb(stops, t).join(',') + ')'; }
  const GRAY_R = ['#ffffff', '#000000'];

  // The controls and the canvas of one explorer, found under its root element, and the
  // helpers that draw on that canvas.
  function explorer(root) {
    const ctl = n => root.querySelector('[name="' + n + '"]');
    const num = n => parseInt(ctl(n).value, 10);
    const canvas = root.querySelector('canvas'), ctx = canvas.getContext('2d');
    const status = root.querySelector('.cnn-explorer__status');
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
    // A play button that steps the 'step' slider until steps() - 1, calling draw() each time.
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
    // Redraw whenever a control changes, and show a slider's value in its <output>.
    function listen(render) {
      root.querySelectorAll('input, select').forEach(e => e.addEventListener('input', () => {
        const out = root.querySelector('output[for="' + e.id + '"]');
        if (out) out.textContent = e.value;
        render();
      }));
    }
    return { ctl, num, bytes, cmap, GRAY_R, canvas, ctx, drawMap, box, label, say, player, listen };
  }

  return { bytes, hex, rgb, cmap, GRAY_R, explorer };
})();
