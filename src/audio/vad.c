/*
 * vad.c - the Silero VAD forward pass: one speech probability per 512-sample
 * window, the LSTM state carried from window to window (vad_internal.h
 * describes the network).
 *
 * Numerics follow whisper.cpp's CPU graph, so probabilities agree within
 * ~2e-4 (mean 7e-6; what is left are f16 roundings that land on the other
 * side): each window is reflect-padded by 64 samples on both sides (no
 * samples of the previous window are carried over, unlike Silero's own
 * code), and every convolution input is rounded to f16 first, because
 * ggml's conv_1d builds its im2col matrix in the f16 type of the weights
 * (without that rounding the error is 1.3e-3). The LSTM runs in float32.
 */
#include "audio/vad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio/vad_internal.h"
#include "tensor/fp16.h"

#define PADDED (VAD_WINDOW_SAMPLES + 2 * VAD_PAD)
#define MAX_COLUMN (VAD_STFT_BINS * VAD_KERNEL) /* widest im2col row: 129 inputs x 3 taps */

static const int vad_enc_stride[VAD_ENC_LAYERS] = {1, 2, 2, 1};

typedef struct lstm_state {
    float h[VAD_HIDDEN], c[VAD_HIDDEN];
} lstm_state;

static float round_f16(float x) {
    return r1_half_to_f32(r1_f32_to_half(x));
}

/* Dot product with eight running sums, so the compiler can overlap them.
 * (Summing in double changes the error against whisper.cpp only from 2.2e-4
 * to 1.7e-4 and is five times slower.) */
static float dot(const float *a, const float *b, int n) {
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static float sigmoid(float x) {
    return 1.0f / (1.0f + expf(-x));
}

/* The window reflect-padded (x[-i] = x[i], x[511+i] = x[511-i]) and rounded
 * to f16, as the STFT convolution reads it. */
static void pad_window(const float *window, float *padded) {
    for (int i = 0; i < VAD_WINDOW_SAMPLES; i++) padded[VAD_PAD + i] = window[i];
    for (int i = 1; i <= VAD_PAD; i++) {
        padded[VAD_PAD - i] = window[i];
        padded[VAD_PAD + VAD_WINDOW_SAMPLES - 1 + i] = window[VAD_WINDOW_SAMPLES - 1 - i];
    }
    for (int i = 0; i < PADDED; i++) padded[i] = round_f16(padded[i]);
}

/* |STFT|: mag[bin * 4 + frame] from the real (filters 0..128) and imaginary
 * (filters 129..257) parts. */
static void stft_magnitude(const vad_model *m, const float *padded, float *mag) {
    for (int bin = 0; bin < VAD_STFT_BINS; bin++)
        for (int t = 0; t < VAD_STFT_FRAMES; t++) {
            const float *frame = padded + t * VAD_STFT_HOP;
            float re = dot(m->stft + (size_t)bin * VAD_STFT_TAPS, frame, VAD_STFT_TAPS);
            float im = dot(m->stft + (size_t)(bin + VAD_STFT_BINS) * VAD_STFT_TAPS, frame, VAD_STFT_TAPS);
            mag[bin * VAD_STFT_FRAMES + t] = sqrtf(re * re + im * im);
        }
}

/* Encoder layer i: 3-tap convolution, padding 1, then ReLU. in is
 * [in_ch][in_len], out [out_ch][out_len]; returns out_len. */
static int conv_relu(const vad_model *m, int layer, const float *in, int in_len, float *out) {
    int in_ch = vad_enc_in[layer], out_ch = vad_enc_out[layer], stride = vad_enc_stride[layer];
    int out_len = (in_len + 2 - VAD_KERNEL) / stride + 1;
    float column[MAX_COLUMN];
    for (int pos = 0; pos < out_len; pos++) {
        for (int ic = 0; ic < in_ch; ic++)
            for (int k = 0; k < VAD_KERNEL; k++) {
                int x = pos * stride + k - 1;
                column[ic * VAD_KERNEL + k] = x >= 0 && x < in_len ? round_f16(in[ic * in_len + x]) : 0.0f;
            }
        for (int oc = 0; oc < out_ch; oc++) {
            float v = dot(m->enc_w[layer] + (size_t)oc * in_ch * VAD_KERNEL, column, in_ch * VAD_KERNEL);
            v += m->enc_b[layer][oc];
            out[oc * out_len + pos] = v > 0.0f ? v : 0.0f;
        }
    }
    return out_len;
}

/* One LSTM step (PyTorch gate order i, f, g, o); updates s in place. */
static void lstm_step(const vad_model *m, const float *x, lstm_state *s) {
    float gates[VAD_GATES];
    for (int j = 0; j < VAD_GATES; j++) {
        float from_input = dot(m->w_ih + (size_t)j * VAD_HIDDEN, x, VAD_HIDDEN) + m->b_ih[j];
        float from_hidden = dot(m->w_hh + (size_t)j * VAD_HIDDEN, s->h, VAD_HIDDEN) + m->b_hh[j];
        gates[j] = from_input + from_hidden;
    }
    for (int j = 0; j < VAD_HIDDEN; j++) {
        float in_gate = sigmoid(gates[j]), forget = sigmoid(gates[VAD_HIDDEN + j]);
        float cell = tanhf(gates[2 * VAD_HIDDEN + j]), out_gate = sigmoid(gates[3 * VAD_HIDDEN + j]);
        s->c[j] = forget * s->c[j] + in_gate * cell;
        s->h[j] = out_gate * tanhf(s->c[j]);
    }
}

static float window_probability(const vad_model *m, const float *window, lstm_state *s) {
    float padded[PADDED], mag[VAD_STFT_BINS * VAD_STFT_FRAMES];
    float a[VAD_HIDDEN * VAD_STFT_FRAMES], b[VAD_HIDDEN * VAD_STFT_FRAMES];
    pad_window(window, padded);
    stft_magnitude(m, padded, mag);
    int len = conv_relu(m, 0, mag, VAD_STFT_FRAMES, a);
    len = conv_relu(m, 1, a, len, b);
    len = conv_relu(m, 2, b, len, a);
    conv_relu(m, 3, a, len, b); /* 128 channels x 1 position */
    lstm_step(m, b, s);
    float hidden[VAD_HIDDEN];
    for (int j = 0; j < VAD_HIDDEN; j++) hidden[j] = round_f16(s->h[j] > 0.0f ? s->h[j] : 0.0f);
    return sigmoid(dot(m->out_w, hidden, VAD_HIDDEN) + m->out_b[0]);
}

int vad_speech_probs(vad_model *m, const float *samples_16k, long n, float **probs, int *n_probs, r1_error *err) {
    *probs = NULL;
    *n_probs = 0;
    if (!m || n < 0 || (n > 0 && !samples_16k)) return r1_error_set(err, "vad_speech_probs: invalid arguments");
    long windows = (n + VAD_WINDOW_SAMPLES - 1) / VAD_WINDOW_SAMPLES;
    if (windows > 0x7fffffffL) return r1_error_set(err, "vad_speech_probs: %ld samples is too long", n);
    if (windows == 0) return 0;
    float *out = malloc((size_t)windows * sizeof *out);
    if (!out) return r1_error_set(err, "vad_speech_probs: out of memory");
    lstm_state state;
    memset(&state, 0, sizeof state);
    for (long w = 0; w < windows; w++) {
        float window[VAD_WINDOW_SAMPLES] = {0};
        long start = w * VAD_WINDOW_SAMPLES, count = n - start < VAD_WINDOW_SAMPLES ? n - start : VAD_WINDOW_SAMPLES;
        for (long i = 0; i < count; i++) /* NaN or inf would poison the LSTM state for good */
            window[i] = isfinite(samples_16k[start + i]) ? samples_16k[start + i] : 0.0f;
        out[w] = window_probability(m, window, &state);
    }
    *probs = out;
    *n_probs = (int)windows;
    return 0;
}
