// Scroll the notebook to its top; return the window height that shows all of it.
() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (panel && panel.content && panel.content.widgets) panel.content.activeCellIndex = 0;
  const outer = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');
  if (!outer) return 0;
  outer.scrollTop = 0;
  const cells = outer.querySelectorAll('.jp-Cell');
  const box = outer.getBoundingClientRect();
  const content = cells.length
    ? cells[cells.length - 1].getBoundingClientRect().bottom - box.top
    : outer.scrollHeight;
  return Math.ceil(box.top + content + 40 + (window.innerHeight - box.bottom));
}
