/*
 * dispatch.c - which kernel set runs on this CPU (see kernels.h).
 *
 * The SIMD tables may leave entries NULL; here each supported ISA gets one
 * complete set, its own kernels where it has them, else the next lower
 * ISA's (AVX-512 -> AVX2 -> scalar), and attention's products for its ISA.
 * The sets are built once, on first use, under pthread_once, so
 * any thread may ask first.
 */
#include "tensor/kernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "tensor/attention.h"

static const char *const isa_names[R1_ISA_COUNT] = {"scalar", "avx2", "avx512"};

#if defined(__x86_64__)
/* clang's __builtin_cpu_supports has no "f16c", so ask CPUID leaf 1 directly
 * (ECX bit 29). The OS side (saved YMM state) is covered by the avx2 check. */
static bool cpu_has_f16c(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
    return (ecx & bit_F16C) != 0;
}
#endif

bool r1_isa_supported(r1_isa isa) {
    switch (isa) {
    case R1_ISA_SCALAR:
        return true;
#if defined(__x86_64__)
    case R1_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               cpu_has_f16c();
    case R1_ISA_AVX512:
        /* the avx512 file is compiled with the avx2 flags too */
        return r1_isa_supported(R1_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
               __builtin_cpu_supports("avx512bf16");
#endif
    default:
        return false;
    }
}

static const r1_kernel_set *raw_table(r1_isa isa) {
    switch (isa) {
    case R1_ISA_AVX2: return &r1_kernels_avx2_table;
    case R1_ISA_AVX512: return &r1_kernels_avx512_table;
    default: return &r1_kernels_scalar_table;
    }
}

/* Fills the kernels a table leaves NULL from a lower ISA's table. */
static void fill_from(r1_format_kernels *k, const r1_format_kernels *lower) {
    if (!k->dequantize) k->dequantize = lower->dequantize;
    if (!k->quantize) k->quantize = lower->quantize;
    if (!k->dot_f32) k->dot_f32 = lower->dot_f32;
    if (!k->dot_q) k->dot_q = lower->dot_q;
    if (!k->gemm_f32) k->gemm_f32 = lower->gemm_f32;
}

/* Attention's two products: the build for each ISA (attention.h). */
static void set_attention(r1_isa isa, r1_kernel_set *set) {
    set->attention_scores = r1_attention_scores_reference;
    set->attention_values = r1_attention_values_reference;
    set->attention_scores_f16 = r1_attention_scores_f16_reference;
    set->attention_values_f16 = r1_attention_values_f16_reference;
#if defined(__x86_64__)
    if (isa == R1_ISA_AVX2) {
        set->attention_scores = r1_attention_scores_avx2;
        set->attention_values = r1_attention_values_avx2;
        set->attention_scores_f16 = r1_attention_scores_f16_avx2;
        set->attention_values_f16 = r1_attention_values_f16_avx2;
    } else if (isa == R1_ISA_AVX512) {
        set->attention_scores = r1_attention_scores_avx512;
        set->attention_values = r1_attention_values_avx512;
        set->attention_scores_f16 = r1_attention_scores_f16_avx512;
        set->attention_values_f16 = r1_attention_values_f16_avx512;
    }
#else
    (void)isa;
#endif
}

static r1_kernel_set resolved_sets[R1_ISA_COUNT];
static bool resolved_ok[R1_ISA_COUNT];
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void resolve_all(void) {
    for (int i = 0; i < R1_ISA_COUNT; i++) {
        if (!r1_isa_supported((r1_isa)i)) continue;
        r1_kernel_set *set = &resolved_sets[i];
        *set = *raw_table((r1_isa)i);
        set->isa = (r1_isa)i;
        set->name = isa_names[i];
        for (int t = 0; t < R1_TYPE_COUNT; t++) {
            /* the tiled float products live in their own files' tables */
            if (i == R1_ISA_AVX512) set->format[t].gemm_f32 = r1_gemm_f32_avx512_table[t];
            if (i >= R1_ISA_AVX2 && !set->format[t].gemm_f32) set->format[t].gemm_f32 = r1_gemm_f32_avx2_table[t];
            /* AVX-512 falls back to AVX2 (every AVX-512 CPU has it), then scalar */
            if (i == R1_ISA_AVX512) fill_from(&set->format[t], &r1_kernels_avx2_table.format[t]);
            fill_from(&set->format[t], &r1_kernels_scalar_table.format[t]);
            if (i == R1_ISA_AVX512 && !set->format[t].gemm_q) set->format[t].gemm_q = r1_gemm_avx512_table[t];
            if (i == R1_ISA_AVX512) set->format[t].gemm_x16 = r1_gemm_x16_avx512_table[t];
            if (i == R1_ISA_AVX2) set->format[t].gemm_x16 = r1_gemm_x16_avx2_table[t];
        }
        set_attention((r1_isa)i, set);
        resolved_ok[i] = true;
    }
}

const r1_kernel_set *r1_kernels_for(r1_isa isa) {
    if ((int)isa < 0 || isa >= R1_ISA_COUNT) return NULL;
    pthread_once(&resolve_once, resolve_all);
    return resolved_ok[isa] ? &resolved_sets[isa] : NULL;
}

static r1_isa best_supported_isa(void) {
    for (int i = R1_ISA_COUNT - 1; i > 0; i--)
        if (r1_isa_supported((r1_isa)i)) return (r1_isa)i;
    return R1_ISA_SCALAR;
}

/* R1_ISA may lower the choice; an unknown or unsupported request keeps the
 * best one, with a warning, so a typo never silently costs speed. */
static r1_isa requested_isa(void) {
    const r1_isa best = best_supported_isa();
    const char *env = getenv("R1_ISA");
    if (!env || !*env) return best;
    for (int i = 0; i < R1_ISA_COUNT; i++) {
        if (strcmp(env, isa_names[i]) != 0) continue;
        if (i <= (int)best && r1_isa_supported((r1_isa)i)) return (r1_isa)i;
        fprintf(stderr, "r1: warning: R1_ISA=%s is not supported by this CPU; using %s\n", env,
                isa_names[best]);
        return best;
    }
    fprintf(stderr, "r1: warning: unknown R1_ISA=%s (scalar|avx2|avx512); using %s\n", env,
            isa_names[best]);
    return best;
}

static const r1_kernel_set *engine_set;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void choose_engine_set(void) { engine_set = r1_kernels_for(requested_isa()); }

const r1_kernel_set *r1_kernels(void) {
    pthread_once(&engine_once, choose_engine_set);
    return engine_set;
}
