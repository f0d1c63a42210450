/*
 * interleave.c - rewriting weight rows into the 16-row interleaved layout,
 * back, and the reference product on it (see interleave.h for the layout).
 *
 * Everything here is byte shuffling in plain C: it runs once per model load
 * (about a second for a 1 GB model) and in tests, never per token.
 */
#include "tensor/interleave.h"

#include <stdlib.h>
#include <string.h>

#include "tensor/fp16.h"
#include "tensor/kernels.h"

/* The canonical form of one row's unit: `words` 4-byte words, then
 * `halves` 2-byte halves (interleave.h). */
typedef struct {
    int words;
    int halves;
} unit_shape;

static bool unit_shape_of(r1_type type, unit_shape *s) {
    switch (type) {
    case R1_TYPE_Q4_K: *s = (unit_shape){sizeof(r1_block_q4_k) / 4, 0}; return true;
    case R1_TYPE_Q6_K: *s = (unit_shape){offsetof(r1_block_q6_k, d) / 4, 1}; return true;
    case R1_TYPE_Q8_0: *s = (unit_shape){R1_X16_UNIT_VALUES / 4, R1_X16_UNIT_VALUES / R1_QK}; return true;
    default: return false;
    }
}

static size_t unit_bytes(unit_shape s) { return 4 * (size_t)s.words + 2 * (size_t)s.halves; }

bool r1_x16_possible(r1_type type, int64_t row_values, int64_t n_rows) {
    unit_shape s;
    return unit_shape_of(type, &s) && row_values > 0 && row_values % R1_X16_UNIT_VALUES == 0 && n_rows > 0 &&
           n_rows % R1_X16_ROWS == 0;
}

size_t r1_x16_group_bytes(const r1_tensor *t) { return R1_X16_ROWS * t->row_bytes; }

/* One row's unit (file layout) to its canonical form, and back. Only Q8_0
 * differs: its halves d move behind the quants, which are flipped to q + 128. */
static void unit_to_canonical(r1_type type, const uint8_t *unit, uint8_t *canon, size_t bytes) {
    if (type != R1_TYPE_Q8_0) {
        memcpy(canon, unit, bytes);
        return;
    }
    const r1_block_q8_0 *b = (const r1_block_q8_0 *)unit;
    for (int k = 0; k < R1_X16_UNIT_VALUES / R1_QK; k++) {
        for (int i = 0; i < R1_QK; i++) canon[k * R1_QK + i] = (uint8_t)b[k].qs[i] ^ 0x80;
        memcpy(canon + R1_X16_UNIT_VALUES + 2 * k, &b[k].d, 2);
    }
}

static void unit_from_canonical(r1_type type, const uint8_t *canon, uint8_t *unit, size_t bytes) {
    if (type != R1_TYPE_Q8_0) {
        memcpy(unit, canon, bytes);
        return;
    }
    r1_block_q8_0 *b = (r1_block_q8_0 *)unit;
    for (int k = 0; k < R1_X16_UNIT_VALUES / R1_QK; k++) {
        for (int i = 0; i < R1_QK; i++) b[k].qs[i] = (int8_t)(canon[k * R1_QK + i] ^ 0x80);
        memcpy(&b[k].d, canon + R1_X16_UNIT_VALUES + 2 * k, 2);
    }
}

/* The largest canonical unit (Q8_0: 256 quants and 8 halves). */
#define MAX_UNIT_BYTES (R1_X16_UNIT_VALUES + 2 * R1_X16_UNIT_VALUES / R1_QK)

/* 16 canonical units (canon[r]: row r's) to the group's unit, word by word
 * and half by half; `to_group` false goes the other way. */
static void interleave_unit(unit_shape s, uint8_t canon[R1_X16_ROWS][MAX_UNIT_BYTES], uint8_t *out,
                            bool to_group) {
    for (int w = 0; w < s.words; w++)
        for (int r = 0; r < R1_X16_ROWS; r++) {
            uint8_t *at = out + ((size_t)w * R1_X16_ROWS + (size_t)r) * 4;
            if (to_group) memcpy(at, canon[r] + 4 * w, 4);
            else memcpy(canon[r] + 4 * w, at, 4);
        }
    uint8_t *halves = out + (size_t)s.words * 4 * R1_X16_ROWS;
    for (int h = 0; h < s.halves; h++)
        for (int r = 0; r < R1_X16_ROWS; r++) {
            uint8_t *at = halves + ((size_t)h * R1_X16_ROWS + (size_t)r) * 2;
            if (to_group) memcpy(at, canon[r] + 4 * s.words + 2 * h, 2);
            else memcpy(canon[r] + 4 * s.words + 2 * h, at, 2);
        }
}

/* 16 rows (file layout, row_bytes apart) to one interleaved group. */
static void group_from_rows(r1_type type, unit_shape s, const uint8_t *rows, size_t row_bytes, int64_t n_units,
                            uint8_t *group) {
    size_t ub = unit_bytes(s);
    uint8_t canon[R1_X16_ROWS][MAX_UNIT_BYTES];
    for (int64_t u = 0; u < n_units; u++) {
        for (int r = 0; r < R1_X16_ROWS; r++)
            unit_to_canonical(type, rows + (size_t)r * row_bytes + (size_t)u * ub, canon[r], ub);
        interleave_unit(s, canon, group + (size_t)u * ub * R1_X16_ROWS, true);
    }
}

void r1_x16_group_rows(r1_type type, const void *group, int64_t row_values, void *rows) {
    unit_shape s;
    if (!unit_shape_of(type, &s)) return;
    size_t ub = unit_bytes(s), row_bytes = r1_row_bytes(type, row_values);
    uint8_t canon[R1_X16_ROWS][MAX_UNIT_BYTES];
    for (int64_t u = 0; u < row_values / R1_X16_UNIT_VALUES; u++) {
        interleave_unit(s, canon, (uint8_t *)group + (size_t)u * ub * R1_X16_ROWS, false);
        for (int r = 0; r < R1_X16_ROWS; r++)
            unit_from_canonical(type, canon[r], (uint8_t *)rows + (size_t)r * row_bytes + (size_t)u * ub, ub);
    }
}

int r1_x16_interleave(r1_type type, void *data, int64_t row_values, int64_t n_rows) {
    unit_shape s;
    if (!r1_x16_possible(type, row_values, n_rows) || !unit_shape_of(type, &s)) return -1;
    size_t row_bytes = r1_row_bytes(type, row_values), group_bytes = R1_X16_ROWS * row_bytes;
    uint8_t *rows = malloc(group_bytes);
    if (!rows) return -1;
    for (int64_t g = 0; g < n_rows / R1_X16_ROWS; g++) {
        uint8_t *group = (uint8_t *)data + (size_t)g * group_bytes;
        memcpy(rows, group, group_bytes);
        group_from_rows(type, s, rows, row_bytes, row_values / R1_X16_UNIT_VALUES, group);
    }
    free(rows);
    return 0;
}

size_t r1_x16_activation_row_bytes(r1_type weight_type, int64_t n) {
    if (weight_type == R1_TYPE_Q8_0) return r1_x16_sidecar_sums_at(n) + (size_t)(n / R1_QK) * sizeof(int32_t);
    if (weight_type == R1_TYPE_Q4_K) return r1_x16_sidecar_sums32_at(n) + (size_t)(n / 32) * sizeof(int16_t);
    return r1_row_bytes(r1_type_get((uint32_t)weight_type)->dot_type, n);
}

/* The Q4_K sidecar: per Q8_K block, the sums of its 32-value sub-blocks. */
static void prepare_q4_k_activation(void *row, int64_t n) {
    const r1_block_q8_k *blocks = row;
    uint8_t *sums = (uint8_t *)row + r1_x16_sidecar_sums32_at(n);
    for (int64_t b = 0; b < n / R1_QK_K; b++)
        for (int j = 0; j < R1_QK_K / 32; j++) {
            int16_t sum = (int16_t)(blocks[b].bsums[2 * j] + blocks[b].bsums[2 * j + 1]);
            memcpy(sums + (size_t)(b * (R1_QK_K / 32) + j) * sizeof sum, &sum, sizeof sum);
        }
}

void r1_x16_prepare_activation(r1_type weight_type, void *row, int64_t n) {
    if (weight_type == R1_TYPE_Q4_K) {
        prepare_q4_k_activation(row, n);
        return;
    }
    if (weight_type != R1_TYPE_Q8_0) return;
    const r1_block_q8_0 *blocks = row;
    uint8_t *scales = (uint8_t *)row + r1_x16_sidecar_scales_at(n), *sums = (uint8_t *)row + r1_x16_sidecar_sums_at(n);
    for (int64_t b = 0; b < n / R1_QK; b++) {
        float scale = r1_half_to_f32(blocks[b].d);
        int32_t sum = 0;
        for (int i = 0; i < R1_QK; i++) sum += blocks[b].qs[i];
        sum *= -128;
        /* memcpy: the caller's row need not be aligned for floats */
        memcpy(scales + (size_t)b * sizeof scale, &scale, sizeof scale);
        memcpy(sums + (size_t)b * sizeof sum, &sum, sizeof sum);
    }
}

void r1_x16_gemm_reference(r1_type type, const void *group, int n_groups, const void *xq, size_t x_row_bytes,
                           int n_x_rows, int64_t n, float *y, long y_stride) {
    size_t row_bytes = r1_row_bytes(type, n), group_bytes = R1_X16_ROWS * row_bytes;
    r1_dot_q_fn dot = r1_kernels_scalar_table.format[type].dot_q;
    uint8_t *rows = malloc(group_bytes);
    if (!rows) abort(); /* tests only: a reference that cannot run must not pass */
    for (int g = 0; g < n_groups; g++) {
        r1_x16_group_rows(type, (const uint8_t *)group + (size_t)g * group_bytes, n, rows);
        for (int r = 0; r < R1_X16_ROWS; r++)
            for (int c = 0; c < n_x_rows; c++)
                y[c * y_stride + g * R1_X16_ROWS + r] =
                    dot(rows + (size_t)r * row_bytes, (const uint8_t *)xq + (size_t)c * x_row_bytes, n);
    }
    free(rows);
}
