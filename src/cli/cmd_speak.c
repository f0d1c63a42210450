/*
 * cmd_speak.c - `r1 speak`: text to speech with espeak-ng (through the
 * r1-tts-worker process), to a file or to the speaker.
 *
 *   r1 speak "TEXT" [-o OUT] [--format wav|flac|ogg|opus|pcm] [--voice NAME]
 *                   [--speed S] [--stats] [--list-voices]
 *
 * TEXT "-" (or none) reads standard input. English, Mandarin and mixed
 * text; each sentence in its language. With -o the audio is written there
 * ("-": standard output), in the format of --format or else of the file's
 * extension (wav by default); without -o it plays on the speaker. --stats
 * prints the audio length, the synthesis time, the real-time factor and
 * the time to the first audio on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "audio/audio_encode.h"
#include "commands.h"
#include "sound_device.h"

typedef struct speak_args {
    const char *text, *output, *format, *voice;
    float speed;
    bool stats;
} speak_args;

/* Where the audio goes, and the figures of --stats. */
typedef struct speak_run {
    FILE *file;
    audio_encoder *encoder;
    sound_stream *speaker;
    r1_error err;
    int failed;
    double start, first_audio;
    size_t n_samples;
} speak_run;

static void usage(void) {
    fprintf(stderr, "usage: r1 speak \"TEXT\" [-o OUT] [--format wav|flac|ogg|opus|pcm] [--voice NAME]\n"
                    "                [--speed 0.25..4] [--stats] [--list-voices]\n"
                    "TEXT '-' or none: standard input. Without -o: plays on the speaker.\n");
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int parse(int argc, char **argv, speak_args *a) {
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v;
        if (strcmp(o, "-o") == 0 || strcmp(o, "--output") == 0) {
            if (!(a->output = arg_value(argc, argv, &i))) return -1;
        } else if (strcmp(o, "--format") == 0 || strcmp(o, "-f") == 0) {
            if (!(a->format = arg_value(argc, argv, &i))) return -1;
        } else if (strcmp(o, "--voice") == 0 || strcmp(o, "-v") == 0) {
            if (!(a->voice = arg_value(argc, argv, &i))) return -1;
        } else if (strcmp(o, "--speed") == 0) {
            if (!(v = arg_value(argc, argv, &i)) || arg_float(o, v, &a->speed) != 0) return -1;
            if (!(a->speed >= 0.25f && a->speed <= 4.0f)) {
                fprintf(stderr, "r1 speak: --speed %s is outside 0.25..4\n", v);
                return -1;
            }
        } else if (strcmp(o, "--stats") == 0) {
            a->stats = true;
        } else if (o[0] == '-' && o[1] != '\0') {
            fprintf(stderr, "r1 speak: unknown option '%s'\n", o);
            return -1;
        } else if (!a->text) {
            a->text = o;
        } else {
            fprintf(stderr, "r1 speak: one text at a time (quote it: r1 speak \"%s %s ...\")\n", a->text, o);
            return -1;
        }
    }
    if (a->voice && !r1_tts_voice_known(a->voice)) {
        fprintf(stderr, "r1 speak: unknown voice '%s' (r1 speak --list-voices)\n", a->voice);
        return -1;
    }
    return 0;
}

/* The format: --format, else the output file's extension, else wav. */
static const char *choose_format(const speak_args *a) {
    if (a->format) return a->format;
    const char *dot = a->output ? strrchr(a->output, '.') : NULL;
    if (dot && (strcmp(dot, ".raw") == 0 || strcmp(dot, ".pcm") == 0)) return "pcm";
    if (dot && audio_format_known(dot + 1)) return dot + 1;
    return "wav";
}

static char *read_all(FILE *in) {
    size_t len = 0, cap = 4096;
    char *text = malloc(cap);
    for (size_t n; text && (n = fread(text + len, 1, cap - len - 1, in)) > 0;) {
        len += n;
        if (cap - len < 2) {
            char *grown = realloc(text, cap *= 2);
            if (!grown) free(text);
            text = grown;
        }
    }
    if (text) text[len] = '\0';
    return text;
}

static int on_audio(void *user, const int16_t *samples, size_t n) {
    speak_run *run = user;
    if (run->n_samples == 0) run->first_audio = now_seconds() - run->start;
    run->n_samples += n;
    run->failed = run->encoder ? audio_encoder_write(run->encoder, samples, n, &run->err)
                               : sound_play(run->speaker, samples, n, &run->err);
    return run->failed;
}

static void list_voices(void) {
    for (const char *const *v = r1_tts_voices(); *v; v++) printf("%s\n", *v);
}

int cmd_speak(int argc, char **argv) {
    speak_args a = {0};
    if (argc > 0 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) return usage(), 0;
    if (argc > 0 && strcmp(argv[0], "--list-voices") == 0) return list_voices(), 0;
    if (parse(argc, argv, &a) != 0) return usage(), 2;
    const char *format = choose_format(&a);
    if (!audio_format_known(format)) {
        fprintf(stderr, "r1 speak: unknown format '%s' (wav, flac, ogg, opus, pcm)\n", format);
        return 2;
    }
    char *stdin_text = NULL;
    if (!a.text || strcmp(a.text, "-") == 0) {
        if (!(stdin_text = read_all(stdin))) return fprintf(stderr, "r1 speak: out of memory\n"), 1;
        a.text = stdin_text;
    }
    speak_run run = {.start = now_seconds()};
    r1_tts *tts = NULL;
    int status = 1;
    if (r1_tts_open(NULL, &tts, &run.err) != 0) goto done;
    if (a.output) {
        bool to_stdout = strcmp(a.output, "-") == 0;
        run.file = to_stdout ? stdout : fopen(a.output, "wb");
        if (!run.file) {
            r1_error_set(&run.err, "cannot write %s", a.output);
            goto done;
        }
        struct stat st;
        bool seekable = !to_stdout || (fstat(fileno(stdout), &st) == 0 && S_ISREG(st.st_mode));
        audio_sink sink = audio_file_sink(run.file, seekable);
        if (!(run.encoder = audio_encoder_new(format, r1_tts_sample_rate(tts), &sink, &run.err))) goto done;
    } else if (!(run.speaker = sound_open_speaker(r1_tts_sample_rate(tts), &run.err))) {
        r1_error_prefix(&run.err, "cannot play");
        fprintf(stderr, "r1 speak: %s; write a file instead: r1 speak \"...\" -o out.wav\n", run.err.message);
        r1_tts_close(tts);
        free(stdin_text);
        return 1;
    }
    r1_speak_options o = {.voice = a.voice, .speed = a.speed, .on_audio = on_audio, .user = &run};
    if (r1_tts_speak(tts, a.text, strlen(a.text), &o, &run.err) != 0 || run.failed) goto done;
    if (run.encoder && audio_encoder_finish(run.encoder, &run.err) != 0) goto done;
    if (run.file && fflush(run.file) != 0) {
        r1_error_set(&run.err, "cannot write %s", a.output);
        goto done;
    }
    status = 0;
    if (a.stats) {
        double seconds = (double)run.n_samples / r1_tts_sample_rate(tts), elapsed = now_seconds() - run.start;
        fprintf(stderr, "audio %.2f s, synthesised in %.3f s (real-time factor %.4f), first audio after %.3f s\n",
                seconds, elapsed, seconds > 0 ? elapsed / seconds : 0.0, run.first_audio);
    }
done:
    if (status != 0) fprintf(stderr, "r1 speak: %s\n", run.err.message);
    audio_encoder_free(run.encoder);
    if (run.file && run.file != stdout && fclose(run.file) != 0 && status == 0) {
        fprintf(stderr, "r1 speak: cannot write %s\n", a.output);
        status = 1;
    }
    sound_close(run.speaker);
    r1_tts_close(tts);
    free(stdin_text);
    return status;
}
