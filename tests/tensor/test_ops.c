/*
 * test_ops.c - the row operations of src/tensor/ops.c against double
 * precision: softmax (with masked -inf entries), the vectorised exp, RMS
 * norm, GELU, LayerNorm, the rotary embedding; and each vectorised build
 * against its scalar twin.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/ops.h"
#include "testutil.h"

#define N 1003 /* not a multiple of the vector blocks: tails are exercised */

static void test_exp_accuracy(void **state) {
    (void)state;
    static float x[N], y[N], ref[N];
    uint64_t rng = 7;
    double worst = 0.0;
    for (int i = 0; i < N; i++) x[i] = test_rand_uniform(&rng, -87.0f, 80.0f); /* sums stay finite */
    float sum = r1_exp_shifted(y, x, N, 0.0f), sum_ref = r1_exp_shifted_reference(ref, x, N, 0.0f);
    double total = 0.0;
    for (int i = 0; i < N; i++) {
        double want = exp((double)x[i]);
        double rel = fabs(y[i] - want) / want;
        if (rel > worst) worst = rel;
        total += y[i];
        if (fabsf(y[i] - ref[i]) > 1e-6f * ref[i]) fail_msg("x=%g: vector %g, scalar %g", x[i], y[i], ref[i]);
    }
    printf("exp: worst relative error %.2e over [-87, 80]\n", worst);
    assert_true(worst < 1e-6);
    assert_true(fabs(sum - total) <= 1e-5 * total && fabs(sum_ref - total) <= 1e-5 * total);
    /* the edges: masked scores and huge ones */
    float edge[4] = {-INFINITY, -200.0f, 0.0f, 200.0f}, out[4];
    r1_exp_shifted(out, edge, 4, 0.0f);
    assert_true(out[0] == 0.0f && out[1] == 0.0f && out[2] == 1.0f && isfinite(out[3]) && out[3] > 1e38f);
}

static void test_softmax(void **state) {
    (void)state;
    static float x[N], plain[N];
    static double want[N];
    uint64_t rng = 11;
    for (int i = 0; i < N; i++) x[i] = test_rand_uniform(&rng, -30.0f, 30.0f);
    x[0] = x[5] = x[17] = -INFINITY; /* masked, the first too: the maximum starts from x[0] */
    double max = -INFINITY, sum = 0.0;
    for (int i = 0; i < N; i++) max = x[i] > max ? x[i] : max;
    for (int i = 0; i < N; i++) sum += want[i] = exp((double)x[i] - max);
    memcpy(plain, x, sizeof plain);
    r1_softmax(x, N);
    r1_softmax_reference(plain, N);
    /* the same passes, the same sums (on a CPU without AVX2 both are the plain build) */
    assert_memory_equal(x, plain, sizeof plain);
    double total = 0.0;
    for (int i = 0; i < N; i++) {
        total += x[i];
        if (fabs(x[i] - want[i] / sum) > 1e-6 * (want[i] / sum) + 1e-12) fail_msg("softmax[%d] %g, want %g", i, x[i], want[i] / sum);
    }
    assert_true(x[0] == 0.0f && x[5] == 0.0f && x[17] == 0.0f);
    assert_true(fabs(total - 1.0) < 1e-5);
}

/* RMS norm against double precision, with and without a weight, in place
 * too; the vector build gives the plain build's bytes. */
static void test_rmsnorm(void **state) {
    (void)state;
    static float x[N], weight[N], out[N], plain[N], in_place[N];
    uint64_t rng = 13;
    for (int i = 0; i < N; i++) x[i] = test_rand_uniform(&rng, -4.0f, 4.0f), weight[i] = test_rand_uniform(&rng, 0.5f, 2.0f);
    for (int with_weight = 0; with_weight <= 1; with_weight++) {
        const float *w = with_weight ? weight : NULL;
        double sum = 0.0;
        for (int i = 0; i < N; i++) sum += (double)x[i] * x[i];
        double scale = 1.0 / sqrt(sum / N + 1e-6);
        r1_rmsnorm(out, x, w, N, 1e-6f);
        r1_rmsnorm_reference(plain, x, w, N, 1e-6f);
        memcpy(in_place, x, sizeof in_place);
        r1_rmsnorm(in_place, in_place, w, N, 1e-6f);
        for (int i = 0; i < N; i++) {
            double want = x[i] * scale * (w ? w[i] : 1.0);
            if (fabs(out[i] - want) > 1e-6 * fabs(want) + 1e-7) fail_msg("rmsnorm[%d] %g, want %g", i, out[i], want);
        }
        assert_memory_equal(out, plain, sizeof out); /* as softmax: the same when the CPU has no AVX2 */
        assert_memory_equal(out, in_place, sizeof out);
    }
}

static void test_add(void **state) {
    (void)state;
    static float y[N], x[N], want[N];
    uint64_t rng = 17;
    for (int i = 0; i < N; i++) {
        y[i] = test_rand_uniform(&rng, -3.0f, 3.0f), x[i] = test_rand_uniform(&rng, -3.0f, 3.0f);
        want[i] = y[i] + x[i];
    }
    r1_add(y, x, N);
    assert_memory_equal(y, want, sizeof want);
}

static void test_gelu(void **state) {
    (void)state;
    static float x[N], ref[N];
    uint64_t rng = 13;
    for (int i = 0; i < N; i++) ref[i] = x[i] = test_rand_uniform(&rng, -12.0f, 12.0f);
    float orig[N];
    for (int i = 0; i < N; i++) orig[i] = x[i];
    r1_gelu(x, N);
    r1_gelu_reference(ref, N);
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        double v = orig[i], want = 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
        double err = fabs(x[i] - want);
        if (err > worst) worst = err;
        if (fabsf(x[i] - ref[i]) > 1e-6f * (1.0f + fabsf(ref[i]))) fail_msg("gelu(%g): vector %g, scalar %g", orig[i], x[i], ref[i]);
    }
    printf("gelu: worst absolute error %.2e over [-12, 12]\n", worst);
    assert_true(worst < 1e-5);
}

/* The vectorised SwiGLU against libm's expf, far into both tails (where
 * the exp saturates) and with a tail shorter than a vector. */
static void test_swiglu(void **state) {
    (void)state;
    enum { M = N - 5 };
    static float gate[M], ref[M], up[M];
    uint64_t rng = 19;
    for (int i = 0; i < M; i++) {
        ref[i] = gate[i] = test_rand_uniform(&rng, -120.0f, 120.0f) * (i % 3 ? 0.05f : 1.0f);
        up[i] = test_rand_normal(&rng);
    }
    r1_swiglu(gate, up, M);
    r1_swiglu_reference(ref, up, M);
    for (int i = 0; i < M; i++)
        if (fabsf(gate[i] - ref[i]) > 1e-6f * (1.0f + fabsf(ref[i])))
            fail_msg("swiglu[%d]: vector %g, scalar %g", i, gate[i], ref[i]);
}

/* The vectorised maximum against the scalar loop: every length up to a few
 * vectors, the maximum anywhere, NaNs in the middle skipped. */
static void test_max(void **state) {
    (void)state;
    static float x[100];
    uint64_t rng = 29;
    for (int n = 1; n <= 100; n++) {
        for (int i = 0; i < n; i++) x[i] = test_rand_uniform(&rng, -5.0f, 5.0f);
        x[test_rand_u64(&rng) % (uint64_t)n] = 6.0f + (float)n;
        if (n > 2) x[1 + test_rand_u64(&rng) % (uint64_t)(n - 2)] = NAN;
        float got = r1_max(x, n), want = r1_max_reference(x, n);
        if (!(got == want)) fail_msg("max of %d values: %g, scalar %g", n, got, want);
    }
}

static void test_layernorm(void **state) {
    (void)state;
    float x[64], w[64], b[64], out[64];
    uint64_t rng = 17;
    for (int i = 0; i < 64; i++) {
        x[i] = test_rand_normal(&rng) * 3.0f + 1.0f;
        w[i] = test_rand_uniform(&rng, 0.5f, 1.5f);
        b[i] = test_rand_uniform(&rng, -1.0f, 1.0f);
    }
    r1_layernorm(out, x, w, b, 64, 1e-5f);
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < 64; i++) mean += x[i] / 64.0;
    for (int i = 0; i < 64; i++) var += (x[i] - mean) * (x[i] - mean) / 64.0;
    for (int i = 0; i < 64; i++) {
        double want = (x[i] - mean) / sqrt(var + 1e-5) * w[i] + b[i];
        assert_true(fabs(out[i] - want) < 1e-5);
    }
}

/* Rotary embedding: pair i of a head turns by pos * base^(-2i/n_dims),
 * NEOX pairs value i with value i + n_dims/2, and a query-key product
 * depends on the distance between their positions only. */
static void test_rope(void **state) {
    (void)state;
    enum { HEAD = 8 };
    for (int neox = 0; neox <= 1; neox++) {
        r1_rope rope = {.mode = neox ? R1_ROPE_NEOX : R1_ROPE_NORMAL, .n_dims = HEAD, .freq_base = 10000.0f,
                        .freq_scale = 1.0f, .attn_factor = 1.0f};
        float angles[HEAD];
        /* a unit vector in the first of each pair turns to (cos, sin) of its angle */
        for (int i = 0; i < HEAD / 2; i++) {
            float x[HEAD] = {0};
            int a = neox ? i : 2 * i, b = neox ? i + HEAD / 2 : 2 * i + 1;
            x[a] = 1.0f;
            r1_rope_angles(&rope, 7, angles);
            r1_rope_rotate(&rope, angles, x, 1, HEAD);
            double theta = 7.0 * pow(10000.0, -2.0 * i / HEAD);
            assert_float_equal(x[a], cos(theta), 1e-5);
            assert_float_equal(x[b], sin(theta), 1e-5);
        }
        /* q at position m against k at n: the same product for (5, 3) and (12, 10) */
        float q[2][HEAD], k[2][HEAD];
        const int pos_q[2] = {5, 12}, pos_k[2] = {3, 10};
        double dot[2] = {0, 0};
        for (int t = 0; t < 2; t++) {
            for (int d = 0; d < HEAD; d++) q[t][d] = 0.1f * (float)(d + 1), k[t][d] = 1.0f - 0.2f * (float)d;
            r1_rope_angles(&rope, pos_q[t], angles);
            r1_rope_rotate(&rope, angles, q[t], 1, HEAD);
            r1_rope_angles(&rope, pos_k[t], angles);
            r1_rope_rotate(&rope, angles, k[t], 1, HEAD);
            for (int d = 0; d < HEAD; d++) dot[t] += (double)q[t][d] * k[t][d];
        }
        assert_float_equal(dot[0], dot[1], 1e-4);
    }
    /* several heads with a stride beyond the rotated part (deepseek2's
     * queries): each head turns like the first, the rest stays as it was */
    enum { ROTATED = 4, STRIDE = 6, HEADS = 3 };
    r1_rope rope = {.mode = R1_ROPE_NORMAL, .n_dims = ROTATED, .freq_base = 10000.0f, .freq_scale = 1.0f,
                    .attn_factor = 1.0f};
    float angles[ROTATED], x[HEADS * STRIDE];
    for (int i = 0; i < HEADS * STRIDE; i++) x[i] = (float)(i % STRIDE + 1);
    r1_rope_angles(&rope, 9, angles);
    r1_rope_rotate(&rope, angles, x, HEADS, STRIDE);
    for (int h = 0; h < HEADS; h++)
        for (int d = 0; d < STRIDE; d++) {
            if (d < ROTATED) assert_float_equal(x[h * STRIDE + d], x[d], 0.0f);
            else assert_float_equal(x[h * STRIDE + d], (float)(d + 1), 0.0f);
        }
    assert_true(fabsf(x[0] - 1.0f) > 1e-3f); /* the first pair did turn */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp_accuracy),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_max),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_rope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
