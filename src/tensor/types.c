/* types.c - the table of known number formats (see types.h). */
#include "tensor/types.h"


static const r1_type_info type_table[R1_TYPE_COUNT] = {
    [R1_TYPE_F32] = {"f32", 1, sizeof(float), R1_TYPE_F32},
    [R1_TYPE_F16] = {"f16", 1, sizeof(r1_half), R1_TYPE_F32},
    [R1_TYPE_BF16] = {"bf16", 1, sizeof(uint16_t), R1_TYPE_F32},
    [R1_TYPE_Q4_0] = {"q4_0", R1_QK, sizeof(r1_block_q4_0), R1_TYPE_Q8_0},
    [R1_TYPE_Q4_1] = {"q4_1", R1_QK, sizeof(r1_block_q4_1), R1_TYPE_Q8_0},
    [R1_TYPE_Q5_0] = {"q5_0", R1_QK, sizeof(r1_block_q5_0), R1_TYPE_Q8_0},
    [R1_TYPE_Q5_1] = {"q5_1", R1_QK, sizeof(r1_block_q5_1), R1_TYPE_Q8_0},
    [R1_TYPE_Q8_0] = {"q8_0", R1_QK, sizeof(r1_block_q8_0), R1_TYPE_Q8_0},
    [R1_TYPE_Q4_K] = {"q4_K", R1_QK_K, sizeof(r1_block_q4_k), R1_TYPE_Q8_K},
    [R1_TYPE_Q5_K] = {"q5_K", R1_QK_K, sizeof(r1_block_q5_k), R1_TYPE_Q8_K},
    [R1_TYPE_Q6_K] = {"q6_K", R1_QK_K, sizeof(r1_block_q6_k), R1_TYPE_Q8_K},
    [R1_TYPE_Q8_K] = {"q8_K", R1_QK_K, sizeof(r1_block_q8_k), R1_TYPE_Q8_K},
};

const r1_type_info *r1_type_get(uint32_t t) {
    if (t >= R1_TYPE_COUNT || type_table[t].name == NULL) return NULL;
    return &type_table[t];
}

size_t r1_row_bytes(r1_type t, int64_t n) {
    const r1_type_info *info = r1_type_get((uint32_t)t);
    if (!info || n < 0 || n % info->block_size != 0) return 0;
    return (size_t)(n / info->block_size) * info->block_bytes;
}

/* The layouts must match the bytes in GGUF files exactly. */
_Static_assert(sizeof(r1_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(r1_block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(r1_block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(r1_block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(r1_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(r1_block_q4_k) == 144, "q4_K block");
_Static_assert(sizeof(r1_block_q5_k) == 176, "q5_K block");
_Static_assert(sizeof(r1_block_q6_k) == 210, "q6_K block");
_Static_assert(sizeof(r1_block_q8_k) == 292, "q8_K block");
