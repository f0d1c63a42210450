/* gemm_avx512.c - tiled AVX-512 VNNI matrix products (being written; NULL
 * entries fall back to dot_q row by row). */
#include "tensor/kernels.h"

const r1_gemm_q_fn r1_gemm_avx512_table[R1_TYPE_COUNT] = {0};
