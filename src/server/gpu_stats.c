/*
 * gpu_stats.c - NVML through dlopen (see gpu_stats.h). The few entry points
 * used are declared here with NVML's documented C signatures; the library
 * is opened and initialised once, on the first call.
 */
#include "server/gpu_stats.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

typedef struct nvml_utilization { unsigned int gpu, memory; } nvml_utilization;
typedef struct nvml_memory { unsigned long long total, free, used; } nvml_memory;
typedef void *nvml_device;

static struct {
    int (*init)(void);
    int (*count)(unsigned int *);
    int (*handle)(unsigned int, nvml_device *);
    int (*utilization)(nvml_device, nvml_utilization *);
    int (*memory)(nvml_device, nvml_memory *);
    int available;
} nvml;

static pthread_once_t nvml_once = PTHREAD_ONCE_INIT;

static void nvml_open(void) {
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    *(void **)&nvml.init = dlsym(lib, "nvmlInit_v2");
    *(void **)&nvml.count = dlsym(lib, "nvmlDeviceGetCount_v2");
    *(void **)&nvml.handle = dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    *(void **)&nvml.utilization = dlsym(lib, "nvmlDeviceGetUtilizationRates");
    *(void **)&nvml.memory = dlsym(lib, "nvmlDeviceGetMemoryInfo");
    nvml.available = nvml.init && nvml.count && nvml.handle && nvml.utilization && nvml.memory && nvml.init() == 0;
}

int gpu_stats_read(gpu_stats *out, int max) {
    pthread_once(&nvml_once, nvml_open);
    unsigned int n = 0;
    if (!nvml.available || nvml.count(&n) != 0) return 0;
    int filled = 0;
    for (unsigned int i = 0; i < n && filled < max; i++) {
        nvml_device dev;
        nvml_utilization u;
        nvml_memory mem;
        if (nvml.handle(i, &dev) != 0 || nvml.utilization(dev, &u) != 0 || nvml.memory(dev, &mem) != 0) continue;
        out[filled].utilization = u.gpu / 100.0;
        out[filled].memory_used = mem.used;
        out[filled].memory_total = mem.total;
        filled++;
    }
    return filled;
}
