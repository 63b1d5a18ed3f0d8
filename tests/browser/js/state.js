// The notebook at `path` as the tests see it: kernel status, any dialog, and per code cell
// its prompt, execution count, tags, error outputs and number of widget outputs.
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

  if (!window.jupyterapp) return {ready: false, why: 'JupyterLab is not loaded'};
  const dialog = document.querySelector('.jp-Dialog');
  const dialogText = dialog ? dialog.innerText.slice(0, 300) : null;
  const panel = findPanel(path);
  if (!panel) return {ready: false, why: 'the notebook is not open', dialog: dialogText};
  if (!panel.context.isReady) return {ready: false, why: 'the notebook is loading', dialog: dialogText};
  const sc = panel.sessionContext;
  const kernel = sc.session && sc.session.kernel;
  const status = kernel ? kernel.status : 'no kernel';
  const cells = panel.content.widgets.map((w, i) => {
    const m = w.model;
    const info = {i: i, type: m.type};
    if (m.type === 'code') {
      const prompt = w.node.querySelector('.jp-InputPrompt');
      const outputs = m.outputs.toJSON();
      info.prompt = prompt ? prompt.textContent.trim() : '';
      info.count = m.executionCount;
      info.running = m.executionState === 'running';  // [*], even with its input hidden
      info.empty = !m.sharedModel.getSource().trim();
      info.tags = (m.getMetadata && m.getMetadata('tags')) || [];
      info.errors = outputs.filter(o => o.output_type === 'error')
                           .map(o => ({error: `${o.ename}: ${o.evalue}`,
                                       traceback: (o.traceback || []).join('\n')}));
      info.widgetOutputs = outputs.filter(
        o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length;
    }
    return info;
  });
  return {ready: true, status: status, cells: cells, dialog: dialogText};
}
