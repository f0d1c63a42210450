/*
 * test_attention.c - attention's scores and value sums (attention.h) in
 * every kernel set this CPU runs (scalar, AVX2, AVX-512) against double
 * precision: head sizes that are and are not multiples of 16, 1 to 28
 * queries per KV head, 1 to 300 cached rows (whole blocks of 16 and
 * tails), rows scattered in memory and given in shuffled order, as the
 * paged cache gives them. Each result must be within 1e-5 of the sum of
 * the absolute terms; nothing outside the n_keys scores of a head's row may
 * be written. Head counts cover every remainder of the AVX-512 passes and
 * the engine's tiles (4 rows x 6 or 7 heads). A lane test checks that each
 * of the 16 sums the AVX-512 scores fold into one vector lands with its own
 * key and head. The _f16 forms (an f16 KV cache) get the same checks, on
 * rows of halves against the sums of the values those halves hold.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/attention.h"
#include "tensor/fp16.h"
#include "tensor/kernels.h"
#include "testutil.h"

enum { MAX_ROWS = 300, MAX_DIM = 512, MAX_HEADS = 28, STRIDE = MAX_ROWS + 7 };

static const int dims[] = {16, 40, 64, 128, 144, 512};
static const int row_counts[] = {1, 15, 16, 17, 33, 300};
/* every remainder of the AVX-512 passes (4 heads for scores, 3 for value
 * sums), and what the engine passes: 4 rows x a group of 6 or 7 heads */
static const int head_counts[] = {1, 2, 3, 4, 5, 6, 7, 24, 28};

/* n rows of dim values, each in its own allocation, listed in a shuffled
 * order (so neighbouring pointers are not neighbouring rows). */
static float **scattered_rows(int n, int dim, uint64_t *rng) {
    float **rows = malloc(sizeof(float *) * (size_t)n);
    for (int t = 0; t < n; t++) {
        rows[t] = malloc(sizeof(float) * (size_t)dim);
        for (int c = 0; c < dim; c++) rows[t][c] = test_rand_normal(rng);
    }
    for (int t = n - 1; t > 0; t--) {
        int j = (int)(test_rand_u64(rng) % (uint64_t)(t + 1));
        float *tmp = rows[t];
        rows[t] = rows[j];
        rows[j] = tmp;
    }
    return rows;
}

static void free_rows(float **rows, int n) {
    for (int t = 0; t < n; t++) free(rows[t]);
    free(rows);
}

/* The rows as halves (in the same order, each in its own allocation), and
 * the float rows rounded to the values those halves hold, so that the
 * double-precision sums over the float rows are what an _f16 kernel must
 * give. */
static uint16_t **rows_as_halves(float **rows, int n, int dim) {
    uint16_t **halves = malloc(sizeof(uint16_t *) * (size_t)n);
    for (int t = 0; t < n; t++) {
        halves[t] = malloc(sizeof(uint16_t) * (size_t)dim);
        for (int c = 0; c < dim; c++) {
            halves[t][c] = r1_f32_to_half(rows[t][c]);
            rows[t][c] = r1_half_to_f32(halves[t][c]);
        }
    }
    return halves;
}

static void free_halves(uint16_t **halves, int n) {
    for (int t = 0; t < n; t++) free(halves[t]);
    free(halves);
}

static void check_scores_of(const r1_kernel_set *k, bool half, int dim, int n_q, int n_keys, uint64_t *rng) {
    static float q[MAX_HEADS * MAX_DIM], scores[MAX_HEADS * STRIDE];
    float **keys = scattered_rows(n_keys, dim, rng);
    uint16_t **half_keys = half ? rows_as_halves(keys, n_keys, dim) : NULL;
    for (int i = 0; i < n_q * dim; i++) q[i] = test_rand_normal(rng);
    for (int i = 0; i < MAX_HEADS * STRIDE; i++) scores[i] = NAN; /* canaries */
    const float scale = 1.0f / sqrtf((float)dim);
    if (half) k->attention_scores_f16(scores, STRIDE, q, n_q, (const uint16_t *const *)half_keys, n_keys, dim, scale);
    else k->attention_scores(scores, STRIDE, q, n_q, (const float *const *)keys, n_keys, dim, scale);
    for (int g = 0; g < MAX_HEADS; g++)
        for (int t = 0; t < STRIDE; t++) {
            float got = scores[g * STRIDE + t];
            if (g >= n_q || t >= n_keys) {
                if (!isnan(got)) fail_msg("%s dim %d: score [%d][%d] written outside the %d x %d asked for", k->name,
                                          dim, g, t, n_q, n_keys);
                continue;
            }
            double want = 0.0, size = 0.0;
            for (int c = 0; c < dim; c++) {
                want += (double)q[g * dim + c] * keys[t][c];
                size += fabs((double)q[g * dim + c] * keys[t][c]);
            }
            want *= scale;
            size *= scale;
            if (!(fabs(got - want) <= 1e-5 * size + 1e-30)) /* a NaN canary left unwritten fails too */
                fail_msg("%s%s dim %d heads %d keys %d: score [%d][%d] %.8g, want %.8g", k->name, half ? " f16" : "",
                         dim, n_q, n_keys, g, t, got, want);
        }
    free_rows(keys, n_keys);
    if (half) free_halves(half_keys, n_keys);
}

static void check_values_of(const r1_kernel_set *k, bool half, int dim, int n_q, int n_values, uint64_t *rng) {
    static float weights[MAX_HEADS * STRIDE], out[MAX_HEADS * MAX_DIM + 16];
    float **values = scattered_rows(n_values, dim, rng);
    uint16_t **half_values = half ? rows_as_halves(values, n_values, dim) : NULL;
    for (int i = 0; i < MAX_HEADS * STRIDE; i++) weights[i] = test_rand_uniform(rng, 0.0f, 1.0f);
    for (int i = 0; i < MAX_HEADS * MAX_DIM + 16; i++) out[i] = NAN; /* garbage the sums must replace */
    if (half)
        k->attention_values_f16(out, weights, STRIDE, n_q, (const uint16_t *const *)half_values, n_values, dim);
    else k->attention_values(out, weights, STRIDE, n_q, (const float *const *)values, n_values, dim);
    for (int g = 0; g < n_q; g++)
        for (int c = 0; c < dim; c++) {
            double want = 0.0, size = 0.0;
            for (int t = 0; t < n_values; t++) {
                want += (double)weights[g * STRIDE + t] * values[t][c];
                size += fabs((double)weights[g * STRIDE + t] * values[t][c]);
            }
            float got = out[g * dim + c];
            if (!(fabs(got - want) <= 1e-5 * size + 1e-30))
                fail_msg("%s%s dim %d heads %d rows %d: out[%d][%d] %.8g, want %.8g", k->name, half ? " f16" : "",
                         dim, n_q, n_values, g, c, got, want);
        }
    if (!isnan(out[n_q * dim])) fail_msg("%s dim %d: wrote past the %d outputs", k->name, dim, n_q * dim);
    free_rows(values, n_values);
    if (half) free_halves(half_values, n_values);
}


/* Every shape in every kernel set this CPU can run, with f32 or f16 rows. */
static void for_each_set_and_shape(void (*check)(const r1_kernel_set *, bool, int, int, int, uint64_t *),
                                   bool half) {
    int sets_run = 0;
    for (int isa = 0; isa < R1_ISA_COUNT; isa++) {
        const r1_kernel_set *k = r1_kernels_for((r1_isa)isa);
        if (!k) {
            fprintf(stderr, "\n*** SKIPPED: this CPU cannot run the %s kernels; they were NOT tested. ***\n\n",
                    isa == R1_ISA_AVX2 ? "avx2" : "avx512");
            continue;
        }
        uint64_t rng = 42 + (uint64_t)isa;
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
            for (size_t h = 0; h < sizeof head_counts / sizeof head_counts[0]; h++)
                for (size_t r = 0; r < sizeof row_counts / sizeof row_counts[0]; r++)
                    check(k, half, dims[d], head_counts[h], row_counts[r], &rng);
        sets_run++;
    }
    assert_true(sets_run >= 1);
}

static void test_scores(void **state) {
    (void)state;
    for_each_set_and_shape(check_scores_of, false);
}

static void test_values(void **state) {
    (void)state;
    for_each_set_and_shape(check_values_of, false);
}

static void test_scores_f16(void **state) {
    (void)state;
    for_each_set_and_shape(check_scores_of, true);
}

static void test_values_f16(void **state) {
    (void)state;
    for_each_set_and_shape(check_values_of, true);
}

/* Key t scores exactly t + 1016 h for head h (integers, so every order of
 * adding gives them exactly), in the engine's set: a score that lands in
 * another key's or head's lane is seen at once. 66 keys: whole steps of 4
 * and a tail of 2. */
static void check_lanes(bool half) {
    const r1_kernel_set *k = r1_kernels();
    enum { DIM = 128, N = 66, HEADS = 4 };
    static float rows[N][DIM], q[HEADS][DIM], scores[HEADS][N];
    static uint16_t half_rows[N][DIM]; /* the same values, all exact in half */
    const float *keys[N];
    const uint16_t *half_keys[N];
    for (int t = 0; t < N; t++) {
        rows[t][0] = (float)t; /* t from dimension 0 */
        for (int c = 1; c < DIM; c++) rows[t][c] = 1.0f; /* 127 x 8h from the others */
        for (int c = 0; c < DIM; c++) half_rows[t][c] = r1_f32_to_half(rows[t][c]);
        keys[t] = rows[t];
        half_keys[t] = half_rows[t];
    }
    for (int h = 0; h < HEADS; h++) {
        q[h][0] = 1.0f;
        for (int c = 1; c < DIM; c++) q[h][c] = 8.0f * h;
    }
    if (half) k->attention_scores_f16(&scores[0][0], N, &q[0][0], HEADS, half_keys, N, DIM, 1.0f);
    else k->attention_scores(&scores[0][0], N, &q[0][0], HEADS, keys, N, DIM, 1.0f);
    for (int h = 0; h < HEADS; h++)
        for (int t = 0; t < N; t++)
            if (scores[h][t] != (float)(t + 1016 * h))
                fail_msg("%s%s: head %d key %d scored %g, want %d", k->name, half ? " f16" : "", h, t, scores[h][t],
                         t + 1016 * h);
}

static void test_scores_lanes(void **state) {
    (void)state;
    check_lanes(false);
    check_lanes(true);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_scores_f16),
        cmocka_unit_test(test_values_f16),
        cmocka_unit_test(test_scores_lanes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
