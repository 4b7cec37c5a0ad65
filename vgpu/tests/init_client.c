/*
 * init_client.c — a driver-API program linked against libcuda.so.1 (libvgpu
 * at test time) that reports what initialisation answers, for the tests that
 * run without a GPU: no proxy at all, or a proxy without a GPU.
 */
#include <stdio.h>
#include <cuda.h>

int main(void)
{
	int version = 0, count = -1;
	const char *name = NULL, *text = NULL;
	CUresult v = cuDriverGetVersion(&version);
	CUresult pre = cuDeviceGetCount(&count);
	CUresult init = cuInit(0);
	cuGetErrorName(init, &name);
	cuGetErrorString(init, &text);
	CUresult after = cuDeviceGetCount(&count);
	CUtexref tex;
	CUresult unsupported = cuTexRefCreate(&tex);
	CUresult unsupported_again = cuTexRefCreate(&tex);
	printf("driver_version=%d result=%d\n", version, (int)v);
	printf("count_before_init=%d\n", (int)pre);
	printf("init=%d name=%s text=%s\n", (int)init, name ? name : "(null)", text ? text : "(null)");
	printf("count_after_failed_init=%d\n", (int)after);
	printf("unsupported=%d again=%d\n", (int)unsupported, (int)unsupported_again);
	return 0;
}
