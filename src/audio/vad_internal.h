/*
 * vad_internal.h - the Silero VAD network's shape and weights, shared by the
 * loader (vad_model.c) and the forward pass (vad.c). Not a public header.
 *
 * The network (Silero VAD v6, 16 kHz), per 512-sample window:
 *   STFT as a strided convolution: 258 filters of 256 taps, stride 128, over
 *   the window reflect-padded by 64 on each side (640 samples) -> 4 frames;
 *   magnitude of (real, imaginary) halves -> 129 x 4;
 *   encoder: four 3-tap convolutions with padding 1 and ReLU,
 *   129->128 (stride 1), 128->64 (stride 2), 64->64 (stride 2), 64->128
 *   (stride 1) -> 128 x 1;
 *   decoder: one LSTM cell (128 -> 128, gates i, f, g, o), ReLU, a 1x1
 *   convolution 128 -> 1, sigmoid.
 */
#ifndef R1_AUDIO_VAD_INTERNAL_H
#define R1_AUDIO_VAD_INTERNAL_H

#define VAD_PAD 64          /* reflection padding on each side of a window */
#define VAD_STFT_TAPS 256   /* filter length */
#define VAD_STFT_HOP 128
#define VAD_STFT_BINS 129   /* real and imaginary filters: 2 x 129 = 258 */
#define VAD_STFT_FRAMES 4   /* (512 + 2*64 - 256) / 128 + 1 */
#define VAD_ENC_LAYERS 4
#define VAD_KERNEL 3
#define VAD_HIDDEN 128      /* LSTM input and hidden size */
#define VAD_GATES (4 * VAD_HIDDEN)

static const int vad_enc_in[VAD_ENC_LAYERS] = {129, 128, 64, 64};
static const int vad_enc_out[VAD_ENC_LAYERS] = {128, 64, 64, 128};

struct vad_model {
    char description[128]; /* type (< 64 bytes) and three version numbers */
    float *weights;                 /* one allocation holding every array below */
    float *stft;                    /* [258][256] */
    float *enc_w[VAD_ENC_LAYERS];   /* [out][in][3] */
    float *enc_b[VAD_ENC_LAYERS];   /* [out] */
    float *w_ih, *w_hh;             /* [512][128], rows: gates i, f, g, o */
    float *b_ih, *b_hh;             /* [512] */
    float *out_w;                   /* [128] */
    float *out_b;                   /* [1] */
};

#endif
