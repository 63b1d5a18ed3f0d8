// What the panel shows, minus the slider itself (its handle and readout move, of course).
() => {
  const area = document.querySelector('[data-asynclab-panel]');
  if (!area) return null;
  const copy = area.cloneNode(true);
  copy.querySelectorAll('.widget-slider, .widget-readout').forEach(e => e.remove());
  return copy.innerHTML;
}
