/*
 * fake_nvml.c — a stand-in for libnvidia-ml.so.1 with two GPUs, for the
 * tests of proxy/metrics/nvml.ts on machines without one: the same entry
 * points and struct layouts as NVIDIA's nvml.h (nvmlMemory_t: total, free,
 * used as unsigned long long; nvmlUtilization_t: gpu, memory as unsigned
 * int), fixed figures the tests check.  GPU 1 answers
 * NVML_ERROR_NOT_SUPPORTED for utilisation, as some GPUs do.
 */
#include <stdio.h>
#include <string.h>

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct fake_device { int index; } *nvmlDevice_t;

static struct fake_device devices[2] = { { 0 }, { 1 } };
static int initialised;

int nvmlInit_v2(void) { initialised = 1; return 0; }
int nvmlShutdown(void) { initialised = 0; return 0; }
const char *nvmlErrorString(int r) { return r == 3 ? "Not Supported" : "Uninitialized"; }
int nvmlDeviceGetCount_v2(unsigned int *n) { if (!initialised) return 1; *n = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) { if (i > 1) return 2; *d = &devices[i]; return 0; }
int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
	m->total = 80ull << 30;
	m->used = (unsigned long long)(d->index + 1) << 30;
	m->free = m->total - m->used;
	return 0;
}
int nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u)
{
	if (d->index == 1) return 3;
	u->gpu = 42;
	u->memory = 17;
	return 0;
}
int nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len)
{
	snprintf(uuid, len, "GPU-00000000-0000-0000-0000-00000000000%d", d->index);
	return 0;
}
int nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len)
{
	(void)d;
	snprintf(name, len, "Fake H100");
	return 0;
}
