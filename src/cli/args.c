/* args.c - option value parsing for the r1 command line (see args.h). */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *arg_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "r1: option %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int arg_int(const char *option, const char *text, long min, long max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, "r1: %s expects an integer in [%ld, %ld], got '%s'\n", option, min, max, text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int arg_u64(const char *option, const char *text, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-') {
        fprintf(stderr, "r1: %s expects a non-negative integer, got '%s'\n", option, text);
        return -1;
    }
    *out = v;
    return 0;
}

int arg_bytes(const char *option, const char *text, uint64_t max, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    int shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10, end++;
    else if (*end == 'M' || *end == 'm') shift = 20, end++;
    else if (*end == 'G' || *end == 'g') shift = 30, end++;
    if (shift && strcmp(end, "iB") == 0) end += 2;
    if (errno || end == text || *end || text[0] == '-' || v == 0 || v > (max >> shift)) {
        fprintf(stderr, "r1: %s expects a byte count such as 4194304 or 4M, got '%s'\n", option, text);
        return -1;
    }
    *out = (uint64_t)v << shift;
    return 0;
}

int arg_float(const char *option, const char *text, float *out) {
    char *end;
    errno = 0;
    float v = strtof(text, &end);
    if (errno || end == text || *end || !isfinite(v)) {
        fprintf(stderr, "r1: %s expects a number, got '%s'\n", option, text);
        return -1;
    }
    *out = v;
    return 0;
}

int arg_kv_type(const char *option, const char *text, r1_kv_type *out) {
    if (r1_kv_type_parse(text, out) == 0) return 0;
    fprintf(stderr, "r1: %s expects auto, f16 or f32, got '%s'\n", option, text);
    return -1;
}

int arg_token_list(const char *option, const char *text, int32_t **tokens, int *n) {
    size_t cap = 16, count = 0;
    int32_t *list = malloc(cap * sizeof *list);
    const char *p = text;
    while (list) {
        while (*p == ' ') p++;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "r1: %s expects comma-separated token ids, bad entry at '%s'\n", option, p);
            free(list);
            return -1;
        }
        if (count == cap) {
            int32_t *grown = realloc(list, 2 * cap * sizeof *list);
            if (!grown) break;
            list = grown;
            cap *= 2;
        }
        list[count++] = (int32_t)v;
        p = end;
        while (*p == ' ') p++;
        if (*p == 0) {
            *tokens = list;
            *n = (int)count;
            return 0;
        }
        if (*p != ',') {
            fprintf(stderr, "r1: %s expects comma-separated token ids, bad entry at '%s'\n", option, p);
            break;
        }
        p++;
    }
    free(list);
    return -1;
}
