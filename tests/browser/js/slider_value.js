// The marked slider's value, as its readout (or its handle) shows it.
() => {
  const s = document.querySelector('[data-asynclab-slider]');
  if (!s) return null;
  const readout = s.querySelector('.widget-readout');
  const handle = s.querySelector('.noUi-handle');
  return (readout && readout.textContent.trim()) || (handle && handle.getAttribute('aria-valuenow'));
}
