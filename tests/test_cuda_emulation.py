"""The CUDA emulation's own checks (NEPCG_CUDA=EMULATE builds only; docs/gpu.md).

The emulation runs the backend's CUDA sources on the CPU so that tests/test_gpu.py can run without
a GPU. It must fail where a GPU would: host code that dereferences device memory and kernels
that run past their arrays end the process with SIGSEGV (as on a GPU machine), and host pointers
given to kernels, copies whose pointers contradict their kind and frees of host memory raise.
Each probe commits one such error on purpose (`_core._cuda_emulation_probe`); the faults run in a
child process.
"""

import os
import subprocess
import sys

import pytest

import pynepcg
from pynepcg import _core

pytestmark = pytest.mark.skipif(
    not pynepcg.device.cuda_emulated(), reason="tests the CPU emulation of CUDA (NEPCG_CUDA=EMULATE builds)"
)


def run_probe_in_child(what, **env):
    code = f"from pynepcg import _core; _core._cuda_emulation_probe({what!r}); print('probe returned')"
    # (run beside the package this process imported: from a checkout's root, `python -c` would
    # import the source tree's pynepcg, which has no compiled module)
    site = os.path.dirname(os.path.dirname(os.path.abspath(pynepcg.__file__)))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ, **env}, cwd=site
    )


def host_supports_memory_protection_keys():
    with open("/proc/cpuinfo") as f:
        flags = next((line.split() for line in f if line.startswith("flags")), [])
    return "pku" in flags and "ospke" in flags


def protection_keys_active():
    return pynepcg.device.cuda_emulated() and _core._cuda_emulation_probe("protected")


def test_device_memory_is_protected_where_the_cpu_has_protection_keys():
    assert _core._cuda_emulation_probe("protected") == host_supports_memory_protection_keys()


def test_a_correct_kernel_and_its_copies_pass_every_check():
    _core._cuda_emulation_probe("kernel")


def test_a_kernel_writing_past_its_array_ends_the_process_with_a_message():
    done = run_probe_in_child("kernel-overrun")
    assert done.returncode == -11, (done.returncode, done.stdout, done.stderr)
    assert "device code (a kernel, copy or memset) accessed byte 4096 of a device allocation of 4096 bytes" in done.stderr
    assert "past its end" in done.stderr


@pytest.mark.skipif(not protection_keys_active(), reason="needs x86 memory protection keys (PKU)")
def test_host_code_reading_device_memory_ends_the_process_with_a_message():
    done = run_probe_in_child("host-read")
    assert done.returncode == -11, (done.returncode, done.stdout, done.stderr)
    assert "host code accessed byte 2048 of a device allocation of 4096 bytes" in done.stderr
    assert "host code cannot read or write device memory" in done.stderr
    assert "probe returned" not in done.stdout


def test_without_protection_keys_host_reads_go_unnoticed():
    # NEPCG_CUDA_EMULATION_PROTECT=0 turns the keys off (what a CPU without PKU gets): the same
    # probe then returns, which shows that the test above fails for the reason it names
    done = run_probe_in_child("host-read", NEPCG_CUDA_EMULATION_PROTECT="0")
    assert done.returncode == 0, done.stderr
    assert "probe returned" in done.stdout


@pytest.mark.parametrize(
    "what, message",
    [
        ("host-argument", "argument 1 of the launch of write_indices is a host pointer"),
        ("host-member", r"argument 0 \(its member s.data\) of the launch of write_span is a host pointer"),
        ("copy-kind", "cudaMemcpyAsync: the source"),
        ("copy-overrun", "cudaMemcpyAsync: the destination"),
        ("free-host", "cudaFree of a pointer that is not a live device allocation"),
    ],
)
def test_misused_pointers_raise_with_the_reason(what, message):
    with pytest.raises(RuntimeError, match=message):
        _core._cuda_emulation_probe(what)
    _core._cuda_emulation_probe("kernel")  # and the emulated device is usable after the error


def test_an_unknown_probe_is_refused():
    with pytest.raises(ValueError, match="unknown probe"):
        _core._cuda_emulation_probe("nonsense")


def test_dynamic_shared_memory_above_48_kb_needs_the_kernels_opt_in():
    # as on a GPU: 96 KB of dynamic shared memory runs once cudaFuncSetAttribute raised the
    # kernel's limit to it, and the launch fails when the limit is lower (the default 48 KB, or
    # raised too little); the limit cannot exceed the device's 227 KB
    _core._cuda_emulation_probe("shared-opt-in")
    for what, limit in [("shared-default", 49152), ("shared-below-need", 65536)]:
        with pytest.raises(RuntimeError, match=f"asks for 98304 bytes of dynamic shared memory, above the "
                                               f"kernel's limit of {limit} bytes"):
            _core._cuda_emulation_probe(what)
    with pytest.raises(RuntimeError, match="cudaFuncSetAttribute: invalid argument"):
        _core._cuda_emulation_probe("shared-attribute-too-large")
    _core._cuda_emulation_probe("shared-opt-in")  # and the device is usable after the errors


def test_static_shared_arrays_are_each_blocks_own_and_start_undefined():
    # a GPU block's __shared__ array holds garbage until written, whatever an earlier block left
    # there: the emulation fills it with 0xff bytes per block (an int reads -1), so that a
    # reduction reading an element no thread wrote shows (it read zeros or the previous block's
    # values when static shared arrays were per-thread statics)
    assert _core._cuda_emulation_probe("static-shared") is True
