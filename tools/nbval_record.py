"""A pytest plugin for nbval: keep what the checked run of each chapter produced.

    PYTHONPATH=tools pytest -p nbval_record --nbval-lax notebooks

nbval runs every cell of a notebook in one kernel and compares the outputs of the cells marked
``# NBVAL_CHECK_OUTPUT`` with the committed ones. This plugin reads the same kernel messages
and builds the executed notebook from them exactly as nbclient does (outputs, execution
counts, widget state), then, when every cell of the notebook passed, stores it with its run
time in the book's execution cache, ``_build/.jupyter_cache``. Jupyter Book (with
``execute_notebooks: cache``) finds it there and renders those outputs instead of executing
the chapter a second time, and ``tools/exec_report.py`` reads the run times from the same
cache. A notebook that fails is not stored, so the book build would execute (and fail) it.
"""
from __future__ import annotations

import copy
import pathlib
from collections import defaultdict

import pytest
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete
from nbval.kernel import RunningKernel
from nbval.plugin import IPyNbCell, IPyNbFile

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"


class Recorder:
    """The executed copy of one notebook, built from the kernel messages nbval reads."""

    def __init__(self, nb) -> None:
        self.source = nb  # nbval's copy, whose cells the test items hold
        self.client = NotebookClient(copy.deepcopy(nb), record_timing=False)
        self.client.reset_execution_trackers()
        self.client.clear_before_next_output = False  # set per cell by nbclient's own executor
        self.cell_index: int | None = None  # the cell running now
        self.msg_id: str | None = None  # its execute request
        self.seconds = 0.0
        self.failed = False

    def start_cell(self, cell, kernel: RunningKernel) -> None:
        self.client.kc = kernel.kc  # output widgets answer the kernel, as in a notebook frontend
        self.cell_index = next(i for i, c in enumerate(self.source.cells) if c is cell)
        self.msg_id = None  # set by the next execute_cell_input
        target = self.client.nb.cells[self.cell_index]
        target.outputs, target.execution_count = [], None
        self.client.clear_before_next_output = False

    def message(self, msg: dict) -> None:
        if self.cell_index is None or msg.get("parent_header", {}).get("msg_id") != self.msg_id:
            return
        try:
            self.client.process_message(msg, self.client.nb.cells[self.cell_index], self.cell_index)
        except CellExecutionComplete:
            pass

    def executed_notebook(self):
        self.client.set_widgets_metadata()
        return self.client.nb


RECORDERS: dict[str, Recorder] = {}
current: Recorder | None = None  # the recorder of the cell running now


def pytest_configure(config: pytest.Config) -> None:
    get_message = IPyNbFile.get_kernel_message

    def recording_get_message(self, *args, **kwargs):
        msg = get_message(self, *args, **kwargs)
        if current is not None:
            current.message(msg)
        return msg

    def recording_execute(self, cell_input, allow_stdin=None):
        # As a notebook frontend does (nbval passes store_history=False): the kernel then counts
        # executions 1..N, and a trailing ";" hides a cell's last value, as in Jupyter.
        msg_id = self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)
        if current is not None and current.msg_id is None:
            current.msg_id = msg_id
        return msg_id

    IPyNbFile.get_kernel_message = recording_get_message
    RunningKernel.execute_cell_input = recording_execute


def recorder_of(item: IPyNbCell) -> Recorder:
    return RECORDERS.setdefault(str(item.parent.path), Recorder(item.parent.nb))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    global current
    if isinstance(item, IPyNbCell):
        current = recorder_of(item)
        current.start_cell(item.cell, item.parent.kernel)
    yield
    current = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if isinstance(item, IPyNbCell):
        report = outcome.get_result()
        recorder = recorder_of(item)
        recorder.seconds += report.duration  # kernel start (setup), the cell (call), teardown
        recorder.failed = recorder.failed or report.failed


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not RECORDERS:
        return
    cache = get_cache(str(CACHE))
    stored = defaultdict(list)
    for path, recorder in RECORDERS.items():
        if recorder.failed:
            stored["not stored (a cell failed)"].append(pathlib.Path(path).name)
            continue
        nb = recorder.executed_notebook()
        bundle = CacheBundleIn(nb, path, data={"execution_seconds": recorder.seconds})
        cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
        stored["stored for the book build"].append(f"{pathlib.Path(path).name} ({recorder.seconds:.1f} s)")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for what, names in stored.items():
            reporter.write_line(f"executed notebooks {what}: {', '.join(names)}")
