/*
 * cmd_transcribe.c - `r1 transcribe`: speech to text with a Whisper model.
 *
 *   r1 transcribe -m ggml-base.bin AUDIO [--language auto|en|zh|...]
 *                 [--translate] [--timestamps] [--format text|json|verbose_json|srt|vtt]
 *                 [--prompt TEXT] [--temperature T] [--no-fallback] [--no-timestamps]
 *                 [--vad] [--vad-model FILE] [--max-tokens N] [--seed N] [-t THREADS] [--stats]
 *
 * AUDIO is any file libsndfile reads (WAV, FLAC, OGG, MP3; any rate, any
 * channels). The text goes to stdout; with --timestamps (text format) each
 * segment is printed as it is decoded, "[00:00:00.000 --> 00:00:02.000]
 * text". --stats prints the real-time factor and the time per stage to
 * stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"

typedef struct transcribe_args {
    r1_asr_params asr;
    r1_transcribe_options options;
    const char *audio;
    const char *format;
    bool timestamps, stats;
} transcribe_args;

static void usage(void) {
    fprintf(stderr,
            "usage: r1 transcribe -m MODEL.bin AUDIO [--language auto|en|zh|...] [--translate]\n"
            "                     [--timestamps] [--format text|json|verbose_json|srt|vtt]\n"
            "                     [--prompt TEXT] [--temperature T] [--no-fallback] [--no-timestamps]\n"
            "                     [--vad] [--vad-model FILE] [--max-tokens N] [--seed N] [-t THREADS] [--stats]\n");
}

static int parse(int argc, char **argv, transcribe_args *a) {
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v;
        if (strcmp(o, "-m") == 0 || strcmp(o, "--model") == 0) {
            if (!(a->asr.model_path = arg_value(argc, argv, &i))) return -1;
        } else if (strcmp(o, "--language") == 0 || strcmp(o, "-l") == 0) {
            if (!(a->options.language = arg_value(argc, argv, &i))) return -1;
        } else if (strcmp(o, "--translate") == 0) a->options.translate = true;
        else if (strcmp(o, "--timestamps") == 0) a->timestamps = true;
        else if (strcmp(o, "--no-timestamps") == 0) a->options.no_timestamps = true;
        else if (strcmp(o, "--no-fallback") == 0) a->options.no_fallback = true;
        else if (strcmp(o, "--vad") == 0) a->options.vad = true;
        else if (strcmp(o, "--stats") == 0) a->stats = true;
        else if (strcmp(o, "--format") == 0 || strcmp(o, "-f") == 0) {
            if (!(a->format = arg_value(argc, argv, &i))) return -1;
        } else if (strcmp(o, "--prompt") == 0) {
            if (!(a->options.prompt = arg_value(argc, argv, &i))) return -1;
        } else if (strcmp(o, "--vad-model") == 0) {
            if (!(a->asr.vad_model_path = arg_value(argc, argv, &i))) return -1;
            a->options.vad = true;
        } else if (strcmp(o, "--temperature") == 0) {
            if (!(v = arg_value(argc, argv, &i)) || arg_float(o, v, &a->options.temperature) != 0) return -1;
            if (a->options.temperature < 0.0f || a->options.temperature > 1.0f) {
                fprintf(stderr, "r1 transcribe: --temperature %s is outside 0..1\n", v);
                return -1;
            }
        } else if (strcmp(o, "--max-tokens") == 0) {
            if (!(v = arg_value(argc, argv, &i)) || arg_int(o, v, 1, 224, &a->options.max_tokens) != 0) return -1;
        } else if (strcmp(o, "--seed") == 0) {
            if (!(v = arg_value(argc, argv, &i)) || arg_u64(o, v, &a->options.seed) != 0) return -1;
        } else if (strcmp(o, "-t") == 0 || strcmp(o, "--threads") == 0) {
            if (!(v = arg_value(argc, argv, &i)) || arg_int(o, v, 1, 1024, &a->asr.n_threads) != 0) return -1;
        } else if (o[0] == '-' && o[1] != '\0') {
            fprintf(stderr, "r1 transcribe: unknown option '%s'\n", o);
            return -1;
        } else if (!a->audio) a->audio = o;
        else {
            fprintf(stderr, "r1 transcribe: one audio file at a time ('%s', then '%s')\n", a->audio, o);
            return -1;
        }
    }
    if (!a->asr.model_path || !a->audio) {
        fprintf(stderr, "r1 transcribe: %s\n", !a->asr.model_path ? "no model (-m MODEL.bin)" : "no audio file");
        return -1;
    }
    return 0;
}

/* --timestamps in text format: each segment printed as soon as it is final */
static void print_segment(void *user, double start, double end, const char *text) {
    (void)user;
    long a = (long)(start * 1000 + 0.5), b = (long)(end * 1000 + 0.5);
    printf("[%02ld:%02ld:%02ld.%03ld --> %02ld:%02ld:%02ld.%03ld] %s\n", a / 3600000, a / 60000 % 60, a / 1000 % 60,
           a % 1000, b / 3600000, b / 60000 % 60, b / 1000 % 60, b % 1000, text);
    fflush(stdout);
}

int cmd_transcribe(int argc, char **argv) {
    transcribe_args a = {.format = "text"};
    if (argc > 0 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) {
        usage();
        return 0;
    }
    if (parse(argc, argv, &a) != 0) {
        usage();
        return 2;
    }
    bool live = a.timestamps && strcmp(a.format, "text") == 0;
    if (live) a.options.on_segment = print_segment;
    r1_error err = {{0}};
    if (strcmp(a.format, "text") != 0) { /* check the format before the work */
        r1_transcript empty = {0};
        char *probe = r1_transcript_format(&empty, a.format, &err);
        if (!probe) {
            fprintf(stderr, "r1 transcribe: %s\n", err.message);
            return 2;
        }
        free(probe);
    }
    double t0 = cli_now();
    r1_asr *asr;
    if (r1_asr_load(&a.asr, &asr, &err) != 0) {
        fprintf(stderr, "r1 transcribe: %s\n", err.message);
        return 1;
    }
    double load_s = cli_now() - t0;
    const char *lang = a.options.language;
    if (lang && *lang && strcmp(lang, "auto") != 0 && !r1_asr_knows_language(asr, lang)) { /* before the audio */
        fprintf(stderr, "r1 transcribe: unknown language '%s' for this %s model (expected a code such as %s)\n",
                lang, r1_asr_multilingual(asr) ? "multilingual" : "English-only",
                r1_asr_multilingual(asr) ? "en, zh, de" : "en");
        r1_asr_free(asr);
        return 2;
    }
    r1_transcript t;
    if (r1_asr_transcribe_file(asr, a.audio, &a.options, &t, &err) != 0) {
        fprintf(stderr, "r1 transcribe: %s\n", err.message);
        r1_asr_free(asr);
        return 1;
    }
    int rc = 0;
    if (!live) {
        char *text = r1_transcript_format(&t, a.format, &err);
        if (!text) {
            fprintf(stderr, "r1 transcribe: %s\n", err.message);
            rc = 1;
        } else fputs(text, stdout);
        free(text);
    }
    /* a transcript lost on a full disk or a closed pipe is a failure */
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "r1 transcribe: cannot write the transcript to standard output\n");
        rc = 1;
    }
    if (a.stats)
        fprintf(stderr,
                "transcribe: %s model, %.2f s of audio, language %s (p %.2f), %d window(s), %d fallback(s)\n"
                "transcribe: load %.3f s, mel %.3f s, encode %.3f s, decode %.3f s, total %.3f s: RTF %.3f\n",
                r1_asr_model_kind(asr), t.duration, t.language, (double)t.language_probability, t.n_windows,
                t.n_fallbacks, load_s, t.mel_seconds, t.encode_seconds, t.decode_seconds, t.total_seconds,
                t.duration > 0 ? t.total_seconds / t.duration : 0.0);
    r1_transcript_free(&t);
    r1_asr_free(asr);
    return rc;
}
