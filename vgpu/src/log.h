/*
 * log.h — libvgpu's diagnostics on stderr, one line each, key=value fields.
 * VGPU_LOG=error|warn|info|debug picks the level (default warn).
 */
#ifndef VGPU_LOG_H
#define VGPU_LOG_H

#include <cuda.h>

enum vgpu_log_level { VGPU_LOG_ERROR = 0, VGPU_LOG_WARN = 1, VGPU_LOG_INFO = 2, VGPU_LOG_DEBUG = 3 };

void vgpu_log(enum vgpu_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vgpu_log_enabled(enum vgpu_log_level level);

#define VGPU_ERROR(...) vgpu_log(VGPU_LOG_ERROR, __VA_ARGS__)
#define VGPU_WARN(...)  vgpu_log(VGPU_LOG_WARN, __VA_ARGS__)
#define VGPU_INFO(...)  vgpu_log(VGPU_LOG_INFO, __VA_ARGS__)
#define VGPU_DEBUG(...) do { if (vgpu_log_enabled(VGPU_LOG_DEBUG)) vgpu_log(VGPU_LOG_DEBUG, __VA_ARGS__); } while (0)

/*
 * The answer of every driver entry point libvgpu does not implement yet:
 * logs "unsupported driver function NAME" once per name and returns
 * CUDA_ERROR_NOT_SUPPORTED.
 */
CUresult vgpu_unsupported(const char *name);

#endif
