/*
 * api_device.c — initialisation, versions, devices and error strings.  After
 * cuInit every answer here is local: the device's identity and all its
 * attributes were fetched once.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "error_names.h"

VGPU_EXPORT CUresult cuInit(unsigned int flags)
{
	if (flags != 0)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult r = vgpu_connect();
	if (r == CUDA_SUCCESS)
		__atomic_store_n(&vgpu.initialized, 1, __ATOMIC_RELEASE);
	return r;
}

VGPU_EXPORT CUresult cuDriverGetVersion(int *version)
{
	if (!version)
		return CUDA_ERROR_INVALID_VALUE;
	/* Works before cuInit, as the real driver's does. */
	if (vgpu_connect() == CUDA_SUCCESS && vgpu.driver_version > 0)
		*version = vgpu.driver_version;
	else
		*version = CUDA_VERSION; /* the driver API libvgpu implements */
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	if (ordinal < 0 || ordinal >= vgpu.device_count)
		return CUDA_ERROR_INVALID_DEVICE;
	*device = ordinal;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuDeviceGetCount(int *count)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!count)
		return CUDA_ERROR_INVALID_VALUE;
	*count = vgpu.device_count;
	return CUDA_SUCCESS;
}

static CUresult device_query(CUdevice dev, const void *out)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	return vgpu_device_arg(dev);
}

VGPU_EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
	CUresult r = device_query(dev, name);
	if (r != CUDA_SUCCESS)
		return r;
	if (len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	snprintf(name, (size_t)len, "%s", vgpu.dev.name);
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
	CUresult r = device_query(dev, uuid);
	if (r == CUDA_SUCCESS)
		*uuid = vgpu.dev.uuid;
	return r;
}

VGPU_EXPORT CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
	return cuDeviceGetUuid_v2(uuid, dev);
}

VGPU_EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	CUresult r = device_query(dev, bytes);
	if (r == CUDA_SUCCESS)
		*bytes = vgpu.dev.total_mem;
	return r;
}

VGPU_EXPORT CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev)
{
	size_t b;
	CUresult r = cuDeviceTotalMem_v2(&b, dev);
	if (r == CUDA_SUCCESS) {
		if (!bytes)
			return CUDA_ERROR_INVALID_VALUE;
		*bytes = b > 0xffffffffu ? 0xffffffffu : (unsigned int)b;
	}
	return r;
}

VGPU_EXPORT CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
	CUresult r = device_query(dev, pi);
	if (r != CUDA_SUCCESS)
		return r;
	if ((unsigned)attrib >= vgpu.dev.attr_count || vgpu.dev.attrs[attrib] == VGPU_ATTR_REFUSED)
		return CUDA_ERROR_INVALID_VALUE;
	*pi = vgpu.dev.attrs[attrib];
	return CUDA_SUCCESS;
}

static int attr(CUdevice_attribute a)
{
	return (unsigned)a < vgpu.dev.attr_count && vgpu.dev.attrs[a] != VGPU_ATTR_REFUSED ? vgpu.dev.attrs[a] : 0;
}

VGPU_EXPORT CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice dev)
{
	CUresult r = device_query(dev, major);
	if (r != CUDA_SUCCESS)
		return r;
	if (!minor)
		return CUDA_ERROR_INVALID_VALUE;
	*major = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
	*minor = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuDeviceGetProperties(CUdevprop *prop, CUdevice dev)
{
	CUresult r = device_query(dev, prop);
	if (r != CUDA_SUCCESS)
		return r;
	prop->maxThreadsPerBlock = attr(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
	prop->maxThreadsDim[0] = attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X);
	prop->maxThreadsDim[1] = attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y);
	prop->maxThreadsDim[2] = attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z);
	prop->maxGridSize[0] = attr(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X);
	prop->maxGridSize[1] = attr(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y);
	prop->maxGridSize[2] = attr(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z);
	prop->sharedMemPerBlock = attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
	prop->totalConstantMemory = attr(CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY);
	prop->SIMDWidth = attr(CU_DEVICE_ATTRIBUTE_WARP_SIZE);
	prop->memPitch = attr(CU_DEVICE_ATTRIBUTE_MAX_PITCH);
	prop->regsPerBlock = attr(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK);
	prop->clockRate = attr(CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
	prop->textureAlign = attr(CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT);
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
	CUresult r = device_query(dev, pciBusId);
	if (r != CUDA_SUCCESS)
		return r;
	if (len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	snprintf(pciBusId, (size_t)len, "%s", vgpu.dev.pci_bus_id);
	return CUDA_SUCCESS;
}

/* Bus ids compare without case and with or without the 8-digit domain form. */
static int same_bus_id(const char *a, const char *b)
{
	unsigned da, ba, va, fa, db, bb, vb, fb;
	if (sscanf(a, "%x:%x:%x.%x", &da, &ba, &va, &fa) != 4 || sscanf(b, "%x:%x:%x.%x", &db, &bb, &vb, &fb) != 4)
		return 0;
	return da == db && ba == bb && va == vb && fa == fb;
}

VGPU_EXPORT CUresult cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!dev || !pciBusId)
		return CUDA_ERROR_INVALID_VALUE;
	if (!same_bus_id(pciBusId, vgpu.dev.pci_bus_id))
		return CUDA_ERROR_INVALID_DEVICE;
	*dev = 0;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuDeviceCanAccessPeer(int *canAccessPeer, CUdevice dev, CUdevice peerDev)
{
	CUresult r = device_query(dev, canAccessPeer);
	if (r == CUDA_SUCCESS)
		r = vgpu_device_arg(peerDev);
	if (r == CUDA_SUCCESS)
		*canAccessPeer = 0; /* one device: no peer */
	return r;
}

VGPU_EXPORT CUresult cuDeviceGetP2PAttribute(int *value, CUdevice_P2PAttribute attrib, CUdevice srcDevice, CUdevice dstDevice)
{
	CUresult r = device_query(srcDevice, value);
	if (r == CUDA_SUCCESS)
		r = vgpu_device_arg(dstDevice);
	/* One device: there is no peer to describe (the driver answers the same for a device and itself). */
	return r == CUDA_SUCCESS ? CUDA_ERROR_INVALID_DEVICE : r;
}

VGPU_EXPORT CUresult cuDeviceGetExecAffinitySupport(int *pi, CUexecAffinityType type, CUdevice dev)
{
	CUresult r = device_query(dev, pi);
	if (r == CUDA_SUCCESS)
		*pi = 0;
	return r;
}

/* --- error names and strings --- */

struct error_text {
	int code;
	char *text;
};
static struct error_text *error_texts;
static size_t error_text_count;
static pthread_once_t error_texts_once = PTHREAD_ONCE_INIT;

/* The driver's own sentences, fetched once from the proxy (one table for all codes). */
static void load_error_texts(void)
{
	if (vgpu_connect() != CUDA_SUCCESS)
		return;
	size_t cap = VGPU_RECORD_MAX;
	uint8_t *buf = malloc(cap);
	size_t len = 0;
	if (!buf)
		return;
	struct vgpu_part none = { NULL, 0 };
	if (vgpu_call(vgpu.ch, VGPU_OP_ERROR_TABLE, 0, &none, 0, buf, cap, &len) != CUDA_SUCCESS || len < sizeof(struct vgpu_rsp_error_table)) {
		free(buf);
		return;
	}
	struct vgpu_rsp_error_table head;
	memcpy(&head, buf, sizeof(head));
	error_texts = calloc(head.count ? head.count : 1, sizeof(*error_texts));
	size_t at = sizeof(head);
	for (uint32_t i = 0; error_texts && i < head.count && at + 8 <= len; i++) {
		int32_t code;
		uint16_t name_len, text_len;
		memcpy(&code, buf + at, 4);
		memcpy(&name_len, buf + at + 4, 2);
		memcpy(&text_len, buf + at + 6, 2);
		if (at + 8 + name_len + text_len > len)
			break;
		char *text = malloc((size_t)text_len + 1);
		if (!text)
			break;
		memcpy(text, buf + at + 8 + name_len, text_len);
		text[text_len] = 0;
		error_texts[error_text_count++] = (struct error_text){ code, text };
		at += (8u + name_len + text_len + 3u) & ~3u;
	}
	free(buf);
}

VGPU_EXPORT CUresult cuGetErrorName(CUresult error, const char **pStr)
{
	if (!pStr)
		return CUDA_ERROR_INVALID_VALUE;
	const char *name = vgpu_error_name((int)error);
	*pStr = name;
	return name ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

VGPU_EXPORT CUresult cuGetErrorString(CUresult error, const char **pStr)
{
	if (!pStr)
		return CUDA_ERROR_INVALID_VALUE;
	const char *name = vgpu_error_name((int)error);
	if (!name) {
		*pStr = NULL;
		return CUDA_ERROR_INVALID_VALUE;
	}
	pthread_once(&error_texts_once, load_error_texts);
	for (size_t i = 0; i < error_text_count; i++)
		if (error_texts[i].code == (int)error) {
			*pStr = error_texts[i].text;
			return CUDA_SUCCESS;
		}
	*pStr = name; /* no proxy to ask: the name is the best sentence we have */
	return CUDA_SUCCESS;
}
