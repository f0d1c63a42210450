/*
 * args.h - small helpers for the r1 sub-commands' option parsing: strict
 * number parsing (the whole string must be a number in range) and token
 * lists ("1,2,3"). Each prints a clear message and returns -1 on bad input.
 */
#ifndef R1_CLI_ARGS_H
#define R1_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "r1.h"

/* The value after option argv[*i], advancing *i; NULL (with a message) if
 * there is none. */
const char *arg_value(int argc, char **argv, int *i);

int arg_int(const char *option, const char *text, long min, long max, int *out);
int arg_u64(const char *option, const char *text, uint64_t *out);

/* A byte count with an optional binary unit: "4194304", "64K", "4M", "4MiB",
 * "1G". Refuses 0 and values above max. */
int arg_bytes(const char *option, const char *text, uint64_t max, uint64_t *out);
int arg_float(const char *option, const char *text, float *out);

/* "auto", "f16" or "f32", for --kv-type. */
int arg_kv_type(const char *option, const char *text, r1_kv_type *out);

/* Parses "1,2,3" (spaces allowed) into a new array; *n gets the count. */
int arg_token_list(const char *option, const char *text, int32_t **tokens, int *n);

#endif
