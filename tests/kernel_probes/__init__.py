"""Code the reliability harness (tests/kernel_harness.py) runs inside Jupyter kernels.

Each module is sent to a kernel as its text, followed by a call the harness appends (see
``kernel_harness.probe_cell``). So each one only defines things: importing it here, in
the test process, runs nothing, and the functions can be called in-process too
(tests/kernel_probes/test_probes.py does).

- baseline.py: ``_reliability_baseline()``, what the kernel holds before the notebook runs.
- leak_check.py: ``_reliability_leaks(kernel_ports, base)``, what is new since then.
- sweep.py: ``_reliability_sweep(bound)``, every widget value of every ``asynclab.Panel``.

The names start with ``_reliability`` and the harness deletes them after the call, so
they neither clash with nor linger among the notebook's own names.
"""
