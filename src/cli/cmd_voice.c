/*
 * cmd_voice.c - `r1 voice`: a spoken conversation with R1.
 *
 *   r1 voice -m MODEL.gguf --whisper-model W.bin [--mic | --input FILE]
 *            [--speaker | --output DIR] [--voice NAME] [--speed S]
 *            [--vad-model SILERO.bin] [--language L] [--whisper-max-tokens N]
 *            [--whisper-no-fallback] [--verbose] [r1 chat's model options]
 *
 * Listens (the microphone, or every utterance of a file in order, for
 * scripts and tests), cuts utterances with voice activity detection,
 * transcribes each with Whisper, sends the conversation to R1 and speaks
 * the answer sentence by sentence while it is being written (the
 * reasoning, before </think>, is shown, never spoken). With --output DIR
 * the answer of turn N is DIR/turn-N.wav; else it plays on the speaker,
 * and with the microphone, speaking over the answer stops it (barge-in).
 * Each turn prints on stderr how long the steps took from the end of the
 * user's speech: transcription, first token, first audio.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "audio/audio_encode.h"
#include "audio/audio_file.h"
#include "chat_session.h"
#include "commands.h"
#include "sound_device.h"
#include "voice_listen.h"
#include "voice_speaker.h"

typedef struct voice_options {
    chat_model_options model;
    const char *whisper_path, *vad_path, *input, *output_dir, *voice, *language;
    bool mic, speaker, verbose, whisper_no_fallback;
    int whisper_max_tokens;
    float speed;
} voice_options;

static void usage(void) {
    fprintf(stderr,
            "usage: r1 voice -m MODEL.gguf --whisper-model WHISPER.bin [--mic | --input AUDIO_FILE]\n"
            "                [--speaker | --output DIR] [--voice NAME] [--speed 0.25..4] [--vad-model SILERO.bin]\n"
            "                [--language L] [--whisper-max-tokens N] [--whisper-no-fallback] [--verbose]\n"
            "                [--system TEXT] [--chat-template NAME] [-n MAX_TOKENS] [-t THREADS] [--ctx-size N]\n"
            "                [--kv-type auto|f16|f32] [--temp T] [--top-p P] [--top-k K] [--min-p M] [--seed S]\n"
            "                [--mmap|--no-mmap]\n"
            "Default: the microphone and the speaker. --input: each utterance of the file is a turn.\n"
            "--output: the answer of turn N is written to DIR/turn-N.wav.\n");
}

/* One option of r1 voice's own, with value v: 1 when known, 0 when not, -1 when bad. */
static int voice_option(const char *a, const char *v, voice_options *o) {
    if (strcmp(a, "--whisper-model") == 0) o->whisper_path = v;
    else if (strcmp(a, "--vad-model") == 0) o->vad_path = v;
    else if (strcmp(a, "--input") == 0 || strcmp(a, "-i") == 0) o->input = v;
    else if (strcmp(a, "--output") == 0 || strcmp(a, "-o") == 0) o->output_dir = v;
    else if (strcmp(a, "--voice") == 0) o->voice = v;
    else if (strcmp(a, "--language") == 0) o->language = v;
    else if (strcmp(a, "--whisper-max-tokens") == 0) return arg_int(a, v, 1, 224, &o->whisper_max_tokens) ? -1 : 1;
    else if (strcmp(a, "--speed") == 0) {
        if (arg_float(a, v, &o->speed) != 0) return -1;
        if (!(o->speed >= 0.25f && o->speed <= 4.0f)) return fprintf(stderr, "r1 voice: --speed %s is outside 0.25..4\n", v), -1;
    } else return 0;
    return 1;
}

/* The flags (no value); true when a was one. */
static bool voice_flag(const char *a, voice_options *o) {
    bool *flag = strcmp(a, "--mic") == 0 ? &o->mic
               : strcmp(a, "--speaker") == 0 ? &o->speaker
               : strcmp(a, "--verbose") == 0 ? &o->verbose
               : strcmp(a, "--whisper-no-fallback") == 0 ? &o->whisper_no_fallback : NULL;
    if (flag) *flag = true;
    return flag || cli_load_option(a, &o->model.load);
}

/* What cannot be used together, or is missing. */
static int check_options(const voice_options *o) {
    const char *why = !o->model.model_path ? "no model (-m MODEL.gguf)"
                    : !o->whisper_path ? "no speech recognition model (--whisper-model WHISPER.bin)"
                    : o->mic && o->input ? "--mic and --input: one source at a time"
                    : o->speaker && o->output_dir ? "--speaker and --output: one destination at a time"
                    : o->voice && !r1_tts_voice_known(o->voice) ? "unknown --voice (r1 speak --list-voices)" : NULL;
    if (why) fprintf(stderr, "r1 voice: %s\n", why);
    return why ? -1 : 0;
}

static int parse(int argc, char **argv, voice_options *o) {
    chat_model_defaults(&o->model);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (voice_flag(a, o)) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return usage(), 1;
        if (a[0] != '-') return fprintf(stderr, "r1 voice: unexpected argument '%s'\n", a), -1;
        if (i + 1 == argc) return fprintf(stderr, "r1 voice: '%s' is unknown or lacks its value\n", a), -1;
        v = argv[++i];
        int known = chat_model_option(a, v, &o->model);
        if (known == 0) known = voice_option(a, v, o);
        if (known < 0) return -1;
        if (known == 0) return fprintf(stderr, "r1 voice: unknown option '%s'\n", a), -1;
    }
    return check_options(o);
}

/* ---- where the answer's audio goes: the speaker, or DIR/turn-N.wav ---- */

typedef struct voice_out {
    sound_stream *speaker;
    const char *dir;
    char path[PATH_MAX];
    FILE *file;
    audio_encoder *encoder;
} voice_out;

static int out_audio(void *user, const int16_t *samples, size_t n, r1_error *err) {
    voice_out *out = user;
    return out->encoder ? audio_encoder_write(out->encoder, samples, n, err) : sound_play(out->speaker, samples, n, err);
}

static int out_begin(voice_out *out, int turn, int rate, r1_error *err) {
    if (!out->dir) return 0;
    snprintf(out->path, sizeof out->path, "%s/turn-%d.wav", out->dir, turn);
    if (!(out->file = fopen(out->path, "wb"))) return r1_error_set(err, "cannot write %s: %s", out->path, strerror(errno));
    audio_sink sink = audio_file_sink(out->file, true); /* the WAV sizes are written at the end */
    return (out->encoder = audio_encoder_new("wav", rate, &sink, err)) ? 0 : -1;
}

/* Closes the turn's file; on the speaker, drops what a barge-in left queued. */
static int out_end(voice_out *out, bool stopped, r1_error *err) {
    if (out->speaker && stopped) sound_stop_playing(out->speaker);
    int rc = out->encoder ? audio_encoder_finish(out->encoder, err) : 0;
    audio_encoder_free(out->encoder);
    out->encoder = NULL;
    if (out->file && fclose(out->file) != 0 && rc == 0) rc = r1_error_set(err, "cannot write %s", out->path);
    out->file = NULL;
    return rc;
}

/* ---- one turn ---- */

typedef struct voice_loop {
    const voice_options *o;
    r1_asr *asr;
    vad_model *vad;
    r1_tts *tts;
    voice_mic *mic; /* for barge-in; NULL with --input */
    chat_session chat;
    voice_out out;
    int turn;
    bool barged_in; /* the last answer was interrupted */
} voice_loop;

/* What happens while the answer is written and spoken. */
typedef struct turn_state {
    voice_loop *v;
    voice_speaker *speaker;
    double first_token, last_check;
    bool barged_in;
} turn_state;

#define BARGE_IN_CHECK_S 0.1 /* how often the microphone is looked at during an answer */

/* Stops the answer when the user speaks over it. */
static void check_barge_in(turn_state *t) {
    double now = cli_now();
    if (!t->v->mic || t->barged_in || now - t->last_check < BARGE_IN_CHECK_S) return;
    t->last_check = now;
    if (!voice_mic_hears_speech(t->v->mic, t->v->vad)) return;
    t->barged_in = true;
    voice_speaker_stop(t->speaker);
    t->v->chat.gen.max_tokens = 0; /* cli_generate reads it before every step: it ends at this token */
    fprintf(stderr, "(interrupted)\n");
}

static void on_text(void *user, const char *text, size_t len) {
    (void)text, (void)len;
    turn_state *t = user;
    if (t->first_token == 0) t->first_token = cli_now();
    check_barge_in(t);
}

static void on_content(void *user, const char *text, size_t len) {
    voice_speaker_feed(((turn_state *)user)->speaker, text, len);
}

/* The transcript of the utterance, malloc'd ("" when nothing was understood), or NULL. */
static char *transcribe(voice_loop *v, const float *samples, long n) {
    r1_transcribe_options o = {.language = v->o->language, .max_tokens = v->o->whisper_max_tokens,
                               .no_fallback = v->o->whisper_no_fallback};
    r1_transcript t;
    r1_error err;
    if (r1_asr_transcribe(v->asr, samples, n, &o, &t, &err) != 0) {
        fprintf(stderr, "r1 voice: %s\n", err.message);
        return NULL;
    }
    char *text = strdup(t.text ? t.text : "");
    r1_transcript_free(&t);
    return text;
}

static void print_figures(const voice_loop *v, double ended, double asr_done, const turn_state *t,
                          const voice_speech_figures *f) {
    double rate = r1_tts_sample_rate(v->tts);
    fprintf(stderr, "[turn %d] asr %.3f s, first token %.3f s, first audio %.3f s after the end of speech "
                    "(first sentence synthesised in %.3f s); %d tokens at %.1f/s, %d sentences, %.2f s of audio%s%s\n",
            v->turn, asr_done - ended, t->first_token ? t->first_token - ended : 0.0,
            f->first_audio ? f->first_audio - ended : 0.0, f->first_audio ? f->first_audio - f->first_sentence : 0.0,
            v->chat.gen.n_generated, v->chat.gen.n_generated / (v->chat.gen.generate_seconds + 1e-9), f->n_sentences, (double)f->n_samples / rate, v->out.dir ? " in " : "",
            v->out.dir ? v->out.path : "");
}

/* Waits for the answer to be spoken, listening for barge-in meanwhile. */
static int finish_speech(turn_state *t, voice_speech_figures *f, r1_error *err) {
    voice_speaker_end_text(t->speaker);
    while (t->v->mic && !t->barged_in && !voice_speaker_idle(t->speaker)) {
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
        check_barge_in(t);
    }
    return voice_speaker_finish(t->speaker, f, err);
}

/* Answers the utterance (samples) whose speech ended at `ended`. 0, or -1
 * when the answer's audio could not be made or written (printed). */
static int voice_turn(voice_loop *v, const float *samples, long n, double ended) {
    char *text = transcribe(v, samples, n);
    double asr_done = cli_now();
    if (!text || !*text) {
        if (text) printf("(nothing understood)\n");
        free(text);
        return 0; /* a failed transcription was printed; the next utterance may do better */
    }
    printf("you: %s\n", text);
    fflush(stdout);
    v->turn++;
    r1_error err, end_err;
    voice_speaker_params sp = {.tts = v->tts, .voice = v->o->voice, .speed = v->o->speed, .on_audio = out_audio,
                               .user = &v->out, .verbose = v->o->verbose};
    turn_state t = {.v = v};
    voice_speech_figures f = {0};
    int rc = out_begin(&v->out, v->turn, r1_tts_sample_rate(v->tts), &err);
    if (rc == 0 && !(t.speaker = voice_speaker_start(&sp, &err))) rc = -1;
    if (rc == 0) {
        chat_turn_hooks hooks = {.on_text = on_text, .on_content = on_content, .user = &t};
        if (chat_session_turn(&v->chat, text, &hooks) != 0)
            fprintf(stderr, "r1 voice: this turn failed (see above); the conversation goes on without it\n");
        v->chat.gen.max_tokens = v->o->model.max_tokens; /* a barge-in lowered it */
        rc = finish_speech(&t, &f, &err);
    }
    if (out_end(&v->out, f.stopped, &end_err) != 0 && rc == 0) rc = -1, err = end_err;
    if (rc == 0) print_figures(v, ended, asr_done, &t, &f);
    else fprintf(stderr, "r1 voice: %s\n", err.message);
    v->barged_in = t.barged_in;
    free(text);
    return rc;
}

/* ---- the loops ---- */

/* Every utterance of the file is a turn, in order. */
static int file_loop(voice_loop *v) {
    audio_pcm pcm = {0};
    vad_segment *segs = NULL;
    int n_segs = 0;
    r1_error err;
    if (audio_load_file(v->o->input, VAD_SAMPLE_RATE, &pcm, &err) != 0 ||
        voice_find_speech(v->vad, pcm.samples, pcm.n_samples, &segs, &n_segs, &err) != 0) {
        fprintf(stderr, "r1 voice: %s\n", err.message);
        audio_pcm_free(&pcm);
        return -1;
    }
    if (n_segs == 0) fprintf(stderr, "r1 voice: no speech found in %s\n", v->o->input);
    int rc = 0;
    for (int i = 0; i < n_segs && rc == 0; i++) {
        long a = (long)(segs[i].start * VAD_SAMPLE_RATE), b = (long)(segs[i].end * VAD_SAMPLE_RATE);
        b = b > pcm.n_samples ? pcm.n_samples : b;
        rc = voice_turn(v, pcm.samples + a, b - a, cli_now()); /* as if the speech had just ended */
    }
    free(segs);
    audio_pcm_free(&pcm);
    return rc;
}

#define BARGE_IN_KEEP_S 1.5 /* of the interrupting speech kept for the next turn */

/* Listens and answers until the microphone fails (or Ctrl-C). */
static int mic_loop(voice_loop *v) {
    fprintf(stderr, "r1 voice: listening (Ctrl-C to quit)\n");
    for (;;) {
        float *samples;
        long n;
        double ended;
        r1_error err;
        if (voice_mic_listen(v->mic, v->vad, &samples, &n, &ended, &err) != 0) {
            fprintf(stderr, "r1 voice: %s\n", err.message);
            return -1;
        }
        int rc = voice_turn(v, samples, n, ended);
        free(samples);
        if (rc != 0) return -1;
        /* what the microphone heard during the answer was the answer, but for an interruption */
        voice_mic_skip(v->mic, v->barged_in ? BARGE_IN_KEEP_S : 0);
    }
}

/* ---- setup ---- */

static int open_devices(voice_loop *v) {
    r1_error err;
    bool ok = true;
    if (!v->o->output_dir && !(v->out.speaker = sound_open_speaker(r1_tts_sample_rate(v->tts), &err))) {
        r1_error_prefix(&err, "cannot play");
        ok = false;
    }
    if (ok && !v->o->input && !(v->mic = voice_mic_open(&err))) {
        r1_error_prefix(&err, "cannot listen");
        ok = false;
    }
    if (!ok)
        fprintf(stderr, "r1 voice: %s; use files instead: --input AUDIO_FILE (each utterance is a turn) "
                        "and --output DIR (the answers as DIR/turn-N.wav)\n", err.message);
    if (ok && v->o->output_dir && mkdir(v->o->output_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "r1 voice: cannot create %s: %s\n", v->o->output_dir, strerror(errno));
        ok = false;
    }
    return ok ? 0 : -1;
}

static int load_speech_models(voice_loop *v) {
    r1_error err;
    r1_asr_params p = {.model_path = v->o->whisper_path, .n_threads = v->o->model.params.n_threads};
    int rc = r1_asr_load(&p, &v->asr, &err);
    if (rc == 0 && v->o->vad_path && !(v->vad = vad_model_load(v->o->vad_path, &err))) rc = -1;
    if (rc != 0) fprintf(stderr, "r1 voice: %s\n", err.message);
    return rc;
}

int cmd_voice(int argc, char **argv) {
    voice_options o = {0};
    int parsed = parse(argc, argv, &o);
    if (parsed != 0) return parsed < 0 ? (usage(), 2) : 0;
    voice_loop v = {.o = &o, .chat = {.who = "r1 voice"}, .out = {.dir = o.output_dir}};
    chat_model_options *m = &o.model;
    r1_model *model = NULL;
    r1_context *ctx = NULL;
    r1_sampler *sampler = NULL;
    r1_error err;
    int rc = r1_tts_open(NULL, &v.tts, &err);
    if (rc != 0) fprintf(stderr, "r1 voice: %s\n", err.message);
    if (rc == 0) rc = open_devices(&v);
    if (rc == 0) rc = load_speech_models(&v);
    if (rc == 0) rc = cli_open_model(m->model_path, m->load, &m->key, &m->params, &model, &ctx);
    if (rc == 0) {
        r1_model_info info;
        r1_model_get_info(model, &info);
        sampler = r1_sampler_new(&m->sampling, info.n_vocab);
        rc = sampler ? chat_session_start(&v.chat, model, ctx, sampler, m->template_name, m->system, m->max_tokens) : -1;
    }
    if (rc == 0) rc = o.input ? file_loop(&v) : mic_loop(&v);
    chat_session_free(&v.chat);
    r1_sampler_free(sampler);
    r1_context_free(ctx);
    r1_model_free(model);
    voice_mic_close(v.mic);
    sound_close(v.out.speaker);
    vad_model_free(v.vad);
    r1_asr_free(v.asr);
    r1_tts_close(v.tts);
    return rc == 0 ? 0 : 1;
}
