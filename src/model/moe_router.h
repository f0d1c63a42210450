/*
 * moe_router.h - DeepSeek-MoE expert choice for one token.
 *
 * From the router logits: probabilities by softmax or sigmoid; a
 * score-correction bias (exp_probs_b) added for *choosing* experts only;
 * with expert groups, only the best n_group_used groups (by the sum of
 * their two best biased scores, as DeepSeek-V3 defines it) stay eligible;
 * the top n_expert_used eligible experts are chosen (ties: lower id first);
 * their weights are the unbiased probabilities, normalised to sum 1 when
 * weights_norm says so, times weights_scale.
 */
#ifndef R1_MODEL_MOE_ROUTER_H
#define R1_MODEL_MOE_ROUTER_H

#include <stdint.h>

#include "model/model.h"

/* The most experts a layer may have (the loader refuses more). */
#define R1_MOE_MAX_EXPERTS 1024

/* chosen and weights receive moe->n_expert_used entries, best first.
 * bias may be NULL. */
void r1_moe_route(const r1_moe_hparams *moe, const float *logits, const float *bias, int32_t *chosen,
                  float *weights);

#endif
