"""Both implementations of the runtime, as pytest parameters: tests that take
`load` run once with the numpy reference and once with the C runtime."""

import pytest

import pyruntime
from pyruntime import reference

RUNTIMES = [
    pytest.param(reference.Model.load, id="reference"),
    pytest.param(pyruntime.Model.load, id="C"),
]
