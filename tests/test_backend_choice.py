"""Which backend `auto` and an explicit --arch start: a GPU that cannot run the float64 solver on a GPU is passed over.

The Vulkan devices are faked (the decision reads only their kind, float64 support and Vulkan version); the last test
asks this machine's Vulkan loader for real, where there is one."""

from __future__ import annotations

import pytest

from surgsim import backend, gpuinfo
from surgsim.gpuinfo import VulkanDevice

LAVAPIPE = VulkanDevice(0, "llvmpipe (LLVM 15.0.6, 256 bits)", "CPU (software)", "1.3.230", True, True)
DISCRETE = VulkanDevice(1, "NVIDIA RTX A4000", "discrete GPU", "1.3.260", True, True)
INTEGRATED_NO_F64 = VulkanDevice(0, "Intel(R) Graphics (ADL GT2)", "integrated GPU", "1.3.255", False, True)


@pytest.fixture
def machine(monkeypatch):
    """set(archs, devices): what Taichi finds and what the Vulkan loader lists."""

    def set_machine(archs, devices=()):
        monkeypatch.setattr(backend, "available_gpu_archs", lambda: list(archs))
        monkeypatch.setattr(gpuinfo, "vulkan_devices", lambda: tuple(devices))

    return set_machine


def test_auto_passes_over_a_software_vulkan_driver_and_says_why(machine):
    machine(["vulkan"], [LAVAPIPE])
    chosen, notes = backend.choose_backend("auto")
    assert chosen == "cpu"
    assert len(notes) == 1 and "llvmpipe" in notes[0] and "software" in notes[0]


def test_auto_takes_a_hardware_gpu_over_a_software_one(machine):
    machine(["vulkan"], [LAVAPIPE, DISCRETE])
    assert gpuinfo.taichi_vulkan_device(gpuinfo.vulkan_devices()) == DISCRETE
    assert backend.choose_backend("auto") == ("vulkan", [])


def test_auto_passes_over_a_gpu_without_float64(machine):
    machine(["vulkan"], [INTEGRATED_NO_F64, LAVAPIPE])
    chosen, notes = backend.choose_backend("auto")
    assert chosen == "cpu" and "float64" in notes[0]
    # the solver in float32 (not surgsim's default) could use it
    assert backend.choose_backend("auto", default_fp="f32") == ("vulkan", [])


def test_auto_prefers_cuda_and_never_picks_metal(machine):
    machine(["cuda", "vulkan"], [DISCRETE])
    assert backend.choose_backend("auto") == ("cuda", [])
    machine(["metal"])
    chosen, notes = backend.choose_backend("auto")
    assert chosen == "cpu" and "Metal has no float64" in notes[0]


def test_an_explicit_request_runs_a_software_device_but_not_a_device_that_cannot(machine):
    machine(["vulkan"], [LAVAPIPE])
    chosen, notes = backend.choose_backend("vulkan")
    assert chosen == "vulkan" and "slowly" in notes[0]
    machine(["vulkan"], [INTEGRATED_NO_F64])
    chosen, notes = backend.choose_backend("vulkan")
    assert chosen == "cpu" and "falling back to the CPU" in notes[0]
    machine(["metal"])
    assert backend.choose_backend("metal")[0] == "cpu"
    machine([])
    chosen, notes = backend.choose_backend("cuda")
    assert chosen == "cpu" and "not available" in notes[0]


def test_without_an_answer_from_the_vulkan_loader_taichi_s_word_stands(machine):
    machine(["vulkan"], [])
    assert backend.choose_backend("auto") == ("vulkan", [])


def test_no_gpu_at_all_is_the_cpu_with_one_note(machine):
    machine([])
    chosen, notes = backend.choose_backend("auto")
    assert chosen == "cpu" and notes == ["no GPU backend found; running Taichi on the CPU"]
    assert backend.choose_backend("cpu") == ("cpu", [])


def test_this_machine_s_vulkan_devices_are_read_from_the_loader():
    gpuinfo.vulkan_devices.cache_clear()
    devices = gpuinfo.vulkan_devices()
    if not devices:
        pytest.skip("no Vulkan loader or driver on this machine")
    assert [d.index for d in devices] == list(range(len(devices)))
    for device in devices:
        assert device.name and device.kind in gpuinfo.DEVICE_TYPES.values()
        major, minor, _ = (int(part) for part in device.api_version.split("."))
        assert major == 1 and 0 <= minor < 10
    assert gpuinfo.taichi_vulkan_device(devices) in devices
