/*
 * cmd_eval_whisper.c - `r1 eval-whisper`: each stage of a Whisper model
 * written out as raw little-endian float32, to check against a reference
 * implementation or to debug a model file:
 *
 *   r1 eval-whisper -m MODEL.bin --audio FILE [--mel OUT] [--encoder OUT]
 *                   [--tokens ID,ID,... --logits OUT] [-t THREADS] [--fast]
 *
 *   --mel      the log-mel, [n_mels][n_frames], every frame (the 30 s of
 *              padding included), as whisper.cpp lays it out
 *   --encoder  the encoder output of the first window, [n_audio_ctx][n_state]
 *   --logits   the decoder logits after each fed token, [n_tokens][n_vocab]
 *
 * Products run in exact mode (float activations) unless --fast.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "audio/audio_file.h"
#include "audio/mel.h"
#include "commands.h"
#include "model/whisper.h"

typedef struct eval_args {
    const char *model, *audio, *mel_out, *encoder_out, *logits_out;
    int32_t *tokens;
    int n_tokens, n_threads;
    bool fast;
} eval_args;

static void usage(void) {
    fprintf(stderr, "usage: r1 eval-whisper -m MODEL.bin --audio FILE [--mel OUT] [--encoder OUT]\n"
                    "                       [--tokens ID,ID,... --logits OUT] [-t THREADS] [--fast]\n");
}

static int parse(int argc, char **argv, eval_args *a) {
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v;
        const char **target = strcmp(o, "-m") == 0 || strcmp(o, "--model") == 0 ? &a->model
                              : strcmp(o, "--audio") == 0                       ? &a->audio
                              : strcmp(o, "--mel") == 0                         ? &a->mel_out
                              : strcmp(o, "--encoder") == 0                     ? &a->encoder_out
                              : strcmp(o, "--logits") == 0                      ? &a->logits_out
                                                                                : NULL;
        if (target) {
            if (!(*target = arg_value(argc, argv, &i))) return -1;
        } else if (strcmp(o, "--tokens") == 0) {
            if (!(v = arg_value(argc, argv, &i)) || arg_token_list(o, v, &a->tokens, &a->n_tokens) != 0) return -1;
        } else if (strcmp(o, "-t") == 0 || strcmp(o, "--threads") == 0) {
            if (!(v = arg_value(argc, argv, &i)) || arg_int(o, v, 1, 1024, &a->n_threads) != 0) return -1;
        } else if (strcmp(o, "--fast") == 0) a->fast = true;
        else {
            fprintf(stderr, "r1 eval-whisper: unknown option '%s'\n", o);
            return -1;
        }
    }
    if (!a->model || !a->audio) {
        fprintf(stderr, "r1 eval-whisper: %s\n", !a->model ? "no model (-m MODEL.bin)" : "no audio (--audio FILE)");
        return -1;
    }
    if ((a->tokens != NULL) != (a->logits_out != NULL)) {
        fprintf(stderr, "r1 eval-whisper: --tokens and --logits go together\n");
        return -1;
    }
    return 0;
}

static int write_floats(const char *path, const float *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, sizeof(float), n, f) != n || fclose(f) != 0) {
        if (f) fclose(f);
        fprintf(stderr, "r1 eval-whisper: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static int run(const eval_args *a, whisper_model *m, r1_compute *c, whisper_mel *mel) {
    r1_error err = {{0}};
    if (a->mel_out && write_floats(a->mel_out, mel->data, (size_t)mel->n_mel * mel->n_len) != 0) return 1;
    if (!a->encoder_out && !a->logits_out) return 0;
    whisper_state s;
    if (whisper_state_init(&s, m, c, &err) != 0) {
        fprintf(stderr, "r1 eval-whisper: %s\n", err.message);
        return 1;
    }
    int rc = 0;
    if (whisper_encode(&s, mel->data, mel->n_len, mel->n_len, 0, &err) != 0) rc = 1;
    if (rc == 0 && a->encoder_out &&
        write_floats(a->encoder_out, s.enc_out, (size_t)m->hp.n_audio_ctx * m->hp.n_audio_state) != 0)
        rc = 1;
    if (rc == 0 && a->logits_out) {
        float *logits = malloc((size_t)a->n_tokens * m->hp.n_vocab * sizeof(float));
        if (!logits || whisper_decode(&s, a->tokens, a->n_tokens, logits, NULL, &err) != 0) rc = 1;
        if (rc == 0 && write_floats(a->logits_out, logits, (size_t)a->n_tokens * m->hp.n_vocab) != 0) rc = 1;
        free(logits);
    }
    if (rc != 0 && err.message[0]) fprintf(stderr, "r1 eval-whisper: %s\n", err.message);
    whisper_state_free(&s);
    return rc;
}

int cmd_eval_whisper(int argc, char **argv) {
    eval_args a = {0};
    if (parse(argc, argv, &a) != 0) {
        usage();
        free(a.tokens);
        return 2;
    }
    r1_error err = {{0}};
    whisper_model m;
    audio_pcm pcm = {0};
    whisper_mel mel = {0};
    r1_compute c = {0};
    int rc = 1;
    if (whisper_model_load(a.model, &m, &err) != 0) {
        fprintf(stderr, "r1 eval-whisper: %s\n", err.message);
        free(a.tokens);
        return 1;
    }
    if (audio_load_file(a.audio, WHISPER_SAMPLE_RATE, &pcm, &err) != 0 ||
        whisper_mel_compute(pcm.samples, pcm.n_samples, m.mel_filters, m.hp.n_mels, m.n_fft_bins,
                            a.n_threads > 0 ? a.n_threads : 1, &mel, &err) != 0)
        fprintf(stderr, "r1 eval-whisper: %s\n", err.message);
    else if (r1_compute_init(&c, a.n_threads, !a.fast) != 0)
        fprintf(stderr, "r1 eval-whisper: cannot start threads\n");
    else
        rc = run(&a, &m, &c, &mel);
    if (c.pool) r1_compute_free(&c);
    whisper_mel_free(&mel);
    audio_pcm_free(&pcm);
    whisper_model_free(&m);
    free(a.tokens);
    return rc;
}
