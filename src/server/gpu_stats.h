/*
 * gpu_stats.h - GPU utilisation and memory from NVIDIA's management library
 * (libnvidia-ml.so.1), loaded at run time when the machine has it: r1 has
 * no build-time dependency on NVIDIA software, and a machine without a GPU
 * simply reports no GPU metrics.
 */
#ifndef R1_SERVER_GPU_STATS_H
#define R1_SERVER_GPU_STATS_H

typedef struct gpu_stats {
    double utilization;              /* 0..1 over NVML's last sample period */
    unsigned long long memory_used;  /* bytes */
    unsigned long long memory_total;
} gpu_stats;

/* Fills up to max entries; returns how many GPUs, 0 without NVML or GPU. */
int gpu_stats_read(gpu_stats *out, int max);

#endif
