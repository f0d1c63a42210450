/*
 * bandwidth.h - measuring this machine's memory read bandwidth, the ceiling
 * of decode speed (every weight byte is read once per decoded token).
 */
#ifndef R1_CLI_BANDWIDTH_H
#define R1_CLI_BANDWIDTH_H

/* Reads a 1 GiB buffer with n_threads threads, best of `passes`; returns
 * bytes per second, or 0 when the buffer cannot be allocated. */
double measure_read_bandwidth(int n_threads, int passes);

#endif
