"""Which Vulkan devices this machine has, and which of them Taichi would compute on.

Why: Mesa ships a Vulkan driver that runs on the CPU (lavapipe, "llvmpipe"), installed with the desktop on many Linux
distributions and in containers with ``mesa-vulkan-drivers``. Taichi counts it as a Vulkan device, so a backend
choice that asks Taichi only "is Vulkan available?" put the tissue on a software GPU: the shipped liver took 88 ms a
1 ms step there against 1.7 ms on Taichi's own CPU backend. Devices without float64 in shaders (many integrated GPUs)
cannot run the float64 solver at all. Taichi does not say which device it would pick, so :func:`vulkan_devices` asks
the Vulkan loader directly (three calls through ctypes: create an instance, list its physical devices, read their
properties and features) and :func:`taichi_vulkan_device` scores them as Taichi 1.7 does
(``taichi/rhi/vulkan/vulkan_device_creator.cpp``: ``get_device_score``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass

# VkPhysicalDeviceType
DEVICE_TYPES = {0: "other", 1: "integrated GPU", 2: "discrete GPU", 3: "virtual GPU", 4: "CPU (software)"}
_CPU_TYPE = 4
_INTEGRATED, _DISCRETE = 1, 2
# Offsets into VkPhysicalDeviceProperties (four uint32, the type, then the name) and the index of a VkBool32 in
# VkPhysicalDeviceFeatures, as the Vulkan 1.0 headers lay them out.
_TYPE_OFFSET, _NAME_OFFSET, _NAME_SIZE = 16, 20, 256
_WIDE_LINES, _SHADER_FLOAT64 = 15, 39
_PROPERTIES_BYTES = 4096  # the struct is ~830 bytes; a larger buffer is harmless
_FEATURES_COUNT = 55


@dataclass(frozen=True)
class VulkanDevice:
    """One physical device as the Vulkan loader lists it."""

    index: int
    name: str
    kind: str  # a value of DEVICE_TYPES
    api_version: str  # "1.3.230"
    float64: bool  # shaderFloat64: can run float64 kernels
    wide_lines: bool

    @property
    def software(self) -> bool:
        """A driver that runs on the CPU (lavapipe, SwiftShader)."""
        return self.kind == DEVICE_TYPES[_CPU_TYPE]

    def describe(self) -> str:
        return f"{self.name} ({self.kind}, Vulkan {self.api_version}{'' if self.float64 else ', no float64'})"


class _InstanceCreateInfo(ctypes.Structure):
    _fields_ = [("sType", ctypes.c_uint32), ("pNext", ctypes.c_void_p), ("flags", ctypes.c_uint32),
                ("pApplicationInfo", ctypes.c_void_p), ("enabledLayerCount", ctypes.c_uint32),
                ("ppEnabledLayerNames", ctypes.c_void_p), ("enabledExtensionCount", ctypes.c_uint32),
                ("ppEnabledExtensionNames", ctypes.c_void_p)]


def _loader():
    for name in ("libvulkan.so.1", ctypes.util.find_library("vulkan"), "vulkan-1", "libvulkan.1.dylib"):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


@functools.lru_cache(maxsize=1)
def vulkan_devices() -> tuple[VulkanDevice, ...]:
    """The Vulkan devices in the loader's order (Taichi's device indices); empty without a loader or a driver."""
    vk = _loader()
    if vk is None:
        return ()
    try:
        vk.vkCreateInstance.restype = ctypes.c_int32
        vk.vkCreateInstance.argtypes = [ctypes.POINTER(_InstanceCreateInfo), ctypes.c_void_p,
                                        ctypes.POINTER(ctypes.c_void_p)]
        vk.vkEnumeratePhysicalDevices.restype = ctypes.c_int32
        vk.vkEnumeratePhysicalDevices.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32),
                                                  ctypes.POINTER(ctypes.c_void_p)]
        vk.vkGetPhysicalDeviceProperties.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        vk.vkGetPhysicalDeviceFeatures.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        vk.vkDestroyInstance.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    except AttributeError:  # not a Vulkan loader
        return ()
    info = _InstanceCreateInfo(sType=1)  # VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, no layers or extensions
    instance = ctypes.c_void_p()
    if vk.vkCreateInstance(ctypes.byref(info), None, ctypes.byref(instance)) != 0:
        return ()
    try:
        count = ctypes.c_uint32(0)
        if vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), None) != 0 or count.value == 0:
            return ()
        handles = (ctypes.c_void_p * count.value)()
        if vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), handles) not in (0, 5):  # 5: VK_INCOMPLETE
            return ()
        devices = []
        for index in range(count.value):
            properties = ctypes.create_string_buffer(_PROPERTIES_BYTES)
            features = (ctypes.c_uint32 * _FEATURES_COUNT)()
            vk.vkGetPhysicalDeviceProperties(handles[index], properties)
            vk.vkGetPhysicalDeviceFeatures(handles[index], features)
            raw = properties.raw
            api = int.from_bytes(raw[0:4], "little")
            kind = int.from_bytes(raw[_TYPE_OFFSET:_TYPE_OFFSET + 4], "little")
            name = raw[_NAME_OFFSET:_NAME_OFFSET + _NAME_SIZE].split(b"\0", 1)[0].decode("utf-8", "replace")
            devices.append(VulkanDevice(index, name, DEVICE_TYPES.get(kind, DEVICE_TYPES[0]),
                                        f"{(api >> 22) & 0x7F}.{(api >> 12) & 0x3FF}.{api & 0xFFF}",
                                        bool(features[_SHADER_FLOAT64]), bool(features[_WIDE_LINES])))
        return tuple(devices)
    finally:
        vk.vkDestroyInstance(instance, None)


def taichi_score(device: VulkanDevice) -> int:
    """Taichi 1.7's preference among devices (a compute queue assumed): discrete over integrated over the rest, then
    the newer Vulkan minor version and wide lines."""
    minor = int(device.api_version.split(".")[1])
    kind = {DEVICE_TYPES[_DISCRETE]: 1000, DEVICE_TYPES[_INTEGRATED]: 500}.get(device.kind, 0)
    return 1000 + 100 * device.wide_lines + kind + 100 * minor


def taichi_vulkan_device(devices: tuple[VulkanDevice, ...] | None = None) -> VulkanDevice | None:
    """The device Taichi's Vulkan backend would compute on (the first of the highest score), or None."""
    devices = vulkan_devices() if devices is None else devices
    best = None
    for device in devices:
        if best is None or taichi_score(device) > taichi_score(best):
            best = device
    return best


def vulkan_unsuitable(device: VulkanDevice | None) -> str | None:
    """Why the solver should not run on ``device`` when the backend is chosen automatically (None: it may)."""
    if device is None:
        return "no Vulkan device"
    if device.software:
        return f"Vulkan's device is {device.name}, a software driver running on the CPU (slower than the CPU backend)"
    if not device.float64:
        return f"Vulkan's device {device.name} has no float64 in shaders (the solver computes in float64)"
    return None
