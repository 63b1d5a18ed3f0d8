// Problems a learner would see: checked in the DOM, and only inside .jp-OutputArea-output
// (a bare text search would also match the cells' source and the markdown).
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
  if (!panel) return ['the notebook is not open'];
  const problems = [];
  const errorShape = /Traceback|^\s*[\w.]*(Error|Exception)\b/m;
  panel.content.widgets.forEach((w, i) => {
    if (w.model.type !== 'code' || !w.outputArea) return;
    const allowed = ((w.model.getMetadata && w.model.getMetadata('tags')) || [])
      .includes('raises-exception');
    const area = w.outputArea.node;
    // Every output, also those inside Output widgets (a failing slider callback lands there).
    for (const o of area.querySelectorAll('.jp-OutputArea-output')) {
      const text = o.textContent || '';
      if (!allowed && o.dataset.mimeType === 'application/vnd.jupyter.stderr'
          && errorShape.test(text)) {
        problems.push(`cell ${i}: error output: ${text.trim().slice(0, 600)}`);
      }
      if (/Error displaying widget|model not found/i.test(text)) {
        problems.push(`cell ${i}: widget not displayed: ${text.trim().slice(0, 300)}`);
      }
    }
    // Every widget view the kernel sent must be rendered as a widget.
    const outputs = w.model.outputs.toJSON();
    const expected = outputs.filter(
      o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length;
    const tops = [...area.children].map(c => c.querySelector(':scope > .jp-OutputArea-output'))
                                   .filter(Boolean);
    const views = tops.filter(o => o.querySelector('.jupyter-widgets'));
    if (views.length < expected) {
      problems.push(`cell ${i}: ${expected} widget output(s) but ${views.length} rendered: `
                    + tops.map(o => (o.textContent || '').trim().slice(0, 200)).join(' | '));
    }
    if (!w.model.getMetadata || !(w.model.getMetadata('jupyter') || {}).outputs_hidden) {
      for (const v of views) {
        const r = v.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) problems.push(`cell ${i}: a widget view has zero size`);
      }
    }
  });
  return problems;
}
