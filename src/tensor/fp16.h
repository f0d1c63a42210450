/*
 * fp16.h - conversions between float and IEEE half / bfloat16, in plain C.
 *
 * Used by the scalar kernels and wherever a single value is converted; SIMD
 * kernels use F16C / AVX-512 instructions instead. Round to nearest even, as
 * hardware conversion does, so both paths agree bit for bit.
 */
#ifndef R1_TENSOR_FP16_H
#define R1_TENSOR_FP16_H

#include <stdint.h>
#include <string.h>

static inline uint32_t r1_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float r1_f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static inline float r1_half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return r1_f32_from_bits(sign | 0x7f800000u | (mant << 13)); /* inf, nan */
    if (exp == 0) {
        if (mant == 0) return r1_f32_from_bits(sign); /* +-0 */
        /* subnormal: value = mant * 2^-24 */
        float v = (float)mant * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return r1_f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

static inline uint16_t r1_f32_to_half(float f) {
    uint32_t x = r1_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to inf */
    if (absx < 0x38800000u) {
        /* result is subnormal or zero: value / 2^-24, rounded to nearest even */
        float a = r1_f32_from_bits(absx) * 16777216.0f;
        uint32_t q = (uint32_t)a;
        float rest = a - (float)q;
        if (rest > 0.5f || (rest == 0.5f && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    /* normal: drop 13 mantissa bits with round to nearest even */
    uint32_t rounded = absx + 0x0fffu + ((absx >> 13) & 1);
    return (uint16_t)(sign | ((rounded - 0x38000000u) >> 13));
}

static inline float r1_bf16_to_f32(uint16_t h) { return r1_f32_from_bits((uint32_t)h << 16); }

static inline uint16_t r1_f32_to_bf16(float f) {
    uint32_t x = r1_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

#endif
