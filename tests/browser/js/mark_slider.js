// Mark the first usable slider and its panel (the cell's output area); report all panels.
(path) => {
  const findPanel = (path) => {
    const app = window.jupyterapp;
    if (!app) return null;
    let found = null;
    for (const w of app.shell.widgets('main')) {
      if (w.context && w.context.path === path && w.content && w.content.widgets) found = w;
    }
    return found;
  };

  const panel = findPanel(path);
  if (!panel) return {error: 'the notebook is not open'};
  const widgetCells = [];
  let chosen = null;
  panel.content.widgets.forEach((w, i) => {
    if (w.model.type !== 'code' || !w.outputArea) return;
    const area = w.outputArea.node;
    if (area.querySelector('.jupyter-widgets')) widgetCells.push(i);
    if (chosen !== null) return;
    for (const s of area.querySelectorAll('.widget-slider')) {
      const handle = s.querySelector('.noUi-handle');
      const target = s.querySelector('.noUi-target');
      const r = s.getBoundingClientRect();
      if (handle && target && !target.hasAttribute('disabled') && r.width > 0 && r.height > 0) {
        s.setAttribute('data-asynclab-slider', '1');
        area.setAttribute('data-asynclab-panel', '1');
        const label = s.querySelector('.widget-label');
        chosen = {cell: i, label: label ? label.textContent.trim() : ''};
        break;
      }
    }
  });
  return {widgetCells: widgetCells, chosen: chosen};
}
