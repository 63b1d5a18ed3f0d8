"""Every control of every ``asynclab.Panel`` in the kernel, at each of its values.

The harness sends this file, then prints ``_reliability_sweep(bound=...)`` as a marked JSON
line. Each panel is re-run with one control changed at a time, the default last (which
restores it); a run that raises or takes more than ``bound`` seconds is a failure.
"""


def _reliability_sweep(bound):
    """``{"panels": [names], "cases": [one per run], "failures": [the failed runs]}``."""
    import gc
    import sys
    import time
    import traceback

    from IPython import get_ipython

    widgets = sys.modules.get("asynclab.widgets")
    if widgets is None:
        return {"panels": [], "cases": [], "failures": []}
    shell = get_ipython()
    ns = shell.user_ns if shell is not None else {}
    panels = {}
    for name, value in list(ns.items()):
        if isinstance(value, widgets.Panel) and not name.startswith("_") and id(value) not in panels:
            panels[id(value)] = (name, value)
    for obj in gc.get_objects():  # panels not bound to a name of their own
        try:
            is_panel = isinstance(obj, widgets.Panel)
        except ReferenceError:  # a dead weakref.proxy anywhere in the kernel
            continue
        if is_panel and id(obj) not in panels:
            panels[id(obj)] = (f"<unnamed Panel {len(panels)}>", obj)

    def values_of(control):
        default = control.value
        if hasattr(control, "_options_values"):  # Dropdown, RadioButtons, SelectionSlider...
            values = list(control._options_values)
        elif isinstance(default, bool):
            values = [not default]
        elif isinstance(default, tuple) and hasattr(control, "min"):  # range sliders
            values = [(control.min, control.min), (control.max, control.max),
                      (control.min, control.max)]
        elif hasattr(control, "min") and hasattr(control, "max"):
            values = [control.min, control.max]
        else:
            values = []  # free text and the like: the default only
        # The default last: it restores the control for the next one.
        return [v for v in values if v != default] + [default]

    cases, failures = [], []
    for name, panel in panels.values():
        for control_name, control in panel.controls.items():
            for value in values_of(control):
                start = time.perf_counter()
                error = None
                try:
                    panel.run(**{control_name: value})
                except BaseException as exc:
                    error = "".join(traceback.format_exception_only(exc)).strip()
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                took = time.perf_counter() - start
                pyplot = sys.modules.get("matplotlib.pyplot")
                if pyplot is not None:  # shown in the panel already; the inline backend
                    pyplot.close("all")  # would draw every open figure again at cell end
                case = {"panel": name, "control": control_name, "value": repr(value),
                        "widget": type(control).__name__, "seconds": round(took, 3)}
                cases.append(case)
                if error is None and took > bound:
                    error = f"took {took:.1f} s, more than the bound of {bound:g} s"
                if error is not None:
                    failures.append({**case, "error": error})
            if control.value != values_of(control)[-1]:
                failures.append({"panel": name, "control": control_name,
                                 "value": repr(control.value), "error": "default not restored"})
    return {"panels": [n for n, _ in panels.values()], "cases": cases, "failures": failures}
