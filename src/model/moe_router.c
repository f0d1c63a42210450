/* moe_router.c - DeepSeek-MoE expert choice (see moe_router.h). */
#include "model/moe_router.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define MAX_EXPERTS R1_MOE_MAX_EXPERTS

static void expert_probabilities(const r1_moe_hparams *moe, const float *logits, float *probs) {
    int n = moe->n_expert;
    if (moe->gating == R1_GATING_SIGMOID) {
        for (int e = 0; e < n; e++) probs[e] = 1.0f / (1.0f + expf(-logits[e]));
        return;
    }
    float max = logits[0], sum = 0.0f;
    for (int e = 1; e < n; e++) max = logits[e] > max ? logits[e] : max;
    for (int e = 0; e < n; e++) sum += probs[e] = expf(logits[e] - max);
    for (int e = 0; e < n; e++) probs[e] /= sum;
}

/* Index of the largest score among eligible entries (lowest index on ties),
 * or -1. */
static int best_eligible(const float *score, const bool *eligible, int n) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (eligible[i] && (best < 0 || score[i] > score[best])) best = i;
    return best;
}

/* Leaves eligible only the experts of the n_group_used best groups. */
static void limit_to_best_groups(const r1_moe_hparams *moe, const float *score, bool *eligible) {
    int per_group = moe->n_expert / moe->n_group;
    float group_score[MAX_EXPERTS];
    bool group_open[MAX_EXPERTS];
    for (int g = 0; g < moe->n_group; g++) {
        const float *s = score + g * per_group;
        int first = s[0] >= s[1] ? 0 : 1, second = 1 - first;
        for (int i = 2; i < per_group; i++) {
            if (s[i] > s[first]) second = first, first = i;
            else if (s[i] > s[second]) second = i;
        }
        group_score[g] = s[first] + s[second];
        group_open[g] = true;
    }
    bool group_kept[MAX_EXPERTS] = {false};
    for (int k = 0; k < moe->n_group_used; k++) {
        int g = best_eligible(group_score, group_open, moe->n_group);
        group_kept[g] = true;
        group_open[g] = false;
    }
    for (int e = 0; e < moe->n_expert; e++) eligible[e] = group_kept[e / per_group];
}

void r1_moe_route(const r1_moe_hparams *moe, const float *logits, const float *bias, int32_t *chosen,
                  float *weights) {
    float probs[MAX_EXPERTS], score[MAX_EXPERTS];
    bool eligible[MAX_EXPERTS];
    int n = moe->n_expert < MAX_EXPERTS ? moe->n_expert : MAX_EXPERTS;
    expert_probabilities(moe, logits, probs);
    for (int e = 0; e < n; e++) {
        score[e] = probs[e] + (bias ? bias[e] : 0.0f);
        eligible[e] = true;
    }
    if (moe->n_group > 1) limit_to_best_groups(moe, score, eligible);
    float total = 0.0f;
    for (int k = 0; k < moe->n_expert_used; k++) {
        int e = best_eligible(score, eligible, n);
        if (e < 0) { /* fewer eligible experts than slots (the loader prevents it) */
            chosen[k] = -1;
            weights[k] = 0.0f;
            continue;
        }
        eligible[e] = false;
        chosen[k] = e;
        weights[k] = probs[e];
        total += probs[e];
    }
    for (int k = 0; k < moe->n_expert_used; k++) {
        if (moe->weights_norm && total > 0.0f) weights[k] /= total;
        weights[k] *= moe->weights_scale;
    }
}
