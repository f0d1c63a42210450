/*
 * audio_encode.c - streaming audio encoders for speech output
 * (audio_encode.h).
 *
 * wav and pcm are written here (a 44-byte header is all wav needs); flac
 * and opus go through libsndfile with a virtual file: libsndfile writes at
 * a position, and what lies past the bytes already handed to the sink is
 * held until the next flush. A write before them (a header rewritten at
 * the end) goes to the sink's patch hook, or is dropped for a stream.
 * Samples pass through libsamplerate first (SRC_SINC_FASTEST, as for
 * input), from the synthesiser's rate to AUDIO_OUTPUT_RATE.
 */
#include "audio/audio_encode.h"

#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libvorbis/libopus crashed on large single writes (deps-evaluation.md) */
#define SNDFILE_WRITE_FRAMES 4096
#define RESAMPLE_FRAMES 4096

typedef enum { FORMAT_WAV, FORMAT_PCM, FORMAT_FLAC, FORMAT_OPUS, FORMAT_VORBIS } audio_format;

struct audio_encoder {
    audio_format format;
    audio_sink sink;
    bool sink_stopped;
    double ratio;
    SRC_STATE *resampler;
    uint64_t frames_out;
    /* libsndfile's virtual file: bytes [held_at, held_at + held_len) are
     * not yet at the sink; pos is where libsndfile writes next */
    SNDFILE *sf;
    uint8_t *held;
    size_t held_len, held_cap;
    uint64_t held_at, pos;
};

static const struct {
    const char *name, *mime;
    audio_format format;
} formats[] = {
    {"wav", "audio/wav", FORMAT_WAV},
    {"pcm", "audio/pcm", FORMAT_PCM},
    {"flac", "audio/flac", FORMAT_FLAC},
    {"opus", "audio/ogg; codecs=opus", FORMAT_OPUS},
    {"ogg", "audio/ogg; codecs=vorbis", FORMAT_VORBIS},
};

static int find_format(const char *name) {
    for (size_t i = 0; name && i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(formats[i].name, name) == 0) return (int)i;
    return -1;
}

bool audio_format_known(const char *format) { return find_format(format) >= 0; }

const char *audio_format_content_type(const char *format) {
    int i = find_format(format);
    return i >= 0 ? formats[i].mime : "application/octet-stream";
}

/* ---- the sink ---- */

static int file_sink_write(void *user, const void *bytes, size_t n) {
    return fwrite(bytes, 1, n, (FILE *)user) == n ? 0 : -1;
}

static int file_sink_patch(void *user, uint64_t offset, const void *bytes, size_t n) {
    FILE *f = user;
    if (fflush(f) != 0) return -1;
    return pwrite(fileno(f), bytes, n, (off_t)offset) == (ssize_t)n ? 0 : -1;
}

audio_sink audio_file_sink(FILE *f, bool seekable) {
    return (audio_sink){.write = file_sink_write, .patch = seekable ? file_sink_patch : NULL, .user = f};
}

static int sink_write(audio_encoder *e, const void *bytes, size_t n) {
    if (e->sink_stopped || n == 0) return e->sink_stopped ? -1 : 0;
    if (e->sink.write(e->sink.user, bytes, n) != 0) e->sink_stopped = true;
    return e->sink_stopped ? -1 : 0;
}

static void put_le(uint8_t *p, uint32_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A RIFF/WAVE header for 16-bit mono at AUDIO_OUTPUT_RATE; data_bytes
 * 0xFFFFFFFF says "until the end of the stream". */
static void wav_header(uint8_t h[44], uint32_t data_bytes) {
    memcpy(h, "RIFF", 4);
    put_le(h + 4, data_bytes == 0xFFFFFFFFu ? 0xFFFFFFFFu : 36 + data_bytes, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le(h + 16, 16, 4);                     /* fmt chunk size */
    put_le(h + 20, 1, 2);                      /* PCM */
    put_le(h + 22, 1, 2);                      /* mono */
    put_le(h + 24, AUDIO_OUTPUT_RATE, 4);      /* frames per second */
    put_le(h + 28, AUDIO_OUTPUT_RATE * 2, 4);  /* bytes per second */
    put_le(h + 32, 2, 2);                      /* bytes per frame */
    put_le(h + 34, 16, 2);                     /* bits per sample */
    memcpy(h + 36, "data", 4);
    put_le(h + 40, data_bytes, 4);
}

/* ---- libsndfile's virtual file ---- */

static sf_count_t vio_length(void *user) {
    audio_encoder *e = user;
    return (sf_count_t)(e->held_at + e->held_len);
}

static sf_count_t vio_seek(sf_count_t offset, int whence, void *user) {
    audio_encoder *e = user;
    sf_count_t base = whence == SEEK_CUR ? (sf_count_t)e->pos : whence == SEEK_END ? vio_length(e) : 0;
    if (base + offset < 0) return -1;
    e->pos = (uint64_t)(base + offset);
    return (sf_count_t)e->pos;
}

static sf_count_t vio_read(void *ptr, sf_count_t count, void *user) {
    audio_encoder *e = user; /* only what is still held can be read back */
    if (e->pos < e->held_at || e->pos >= e->held_at + e->held_len) return 0;
    size_t from = (size_t)(e->pos - e->held_at), n = e->held_len - from < (size_t)count ? e->held_len - from : (size_t)count;
    memcpy(ptr, e->held + from, n);
    e->pos += n;
    return (sf_count_t)n;
}

static sf_count_t vio_write(const void *ptr, sf_count_t count, void *user) {
    audio_encoder *e = user;
    const uint8_t *p = ptr;
    size_t n = (size_t)count;
    if (e->pos < e->held_at) { /* already at the sink: a patch, or lost for a stream */
        size_t before = e->held_at - e->pos < n ? (size_t)(e->held_at - e->pos) : n;
        if (e->sink.patch && !e->sink_stopped) e->sink.patch(e->sink.user, e->pos, p, before);
        e->pos += before;
        p += before;
        n -= before;
    }
    if (n == 0) return count;
    size_t at = (size_t)(e->pos - e->held_at);
    if (at + n > e->held_cap) {
        size_t cap = e->held_cap ? e->held_cap : 65536;
        while (cap < at + n) cap *= 2;
        uint8_t *grown = realloc(e->held, cap);
        if (!grown) return 0;
        e->held = grown;
        e->held_cap = cap;
    }
    if (at > e->held_len) memset(e->held + e->held_len, 0, at - e->held_len);
    memcpy(e->held + at, p, n);
    if (at + n > e->held_len) e->held_len = at + n;
    e->pos += n;
    return count;
}

static sf_count_t vio_tell(void *user) { return (sf_count_t)((audio_encoder *)user)->pos; }

/* Hands the held bytes to the sink. */
static int flush_held(audio_encoder *e) {
    int rc = sink_write(e, e->held, e->held_len);
    e->held_at += e->held_len;
    e->held_len = 0;
    return rc;
}

static int open_sndfile(audio_encoder *e, r1_error *err) {
    static SF_VIRTUAL_IO io = {vio_length, vio_seek, vio_read, vio_write, vio_tell};
    SF_INFO info = {.samplerate = AUDIO_OUTPUT_RATE, .channels = 1,
                    .format = e->format == FORMAT_FLAC   ? SF_FORMAT_FLAC | SF_FORMAT_PCM_16
                              : e->format == FORMAT_OPUS ? SF_FORMAT_OGG | SF_FORMAT_OPUS
                                                         : SF_FORMAT_OGG | SF_FORMAT_VORBIS};
    e->sf = sf_open_virtual(&io, SFM_WRITE, &info, e);
    if (!e->sf) return r1_error_set(err, "cannot start a %s stream: %s", formats[e->format].name, sf_strerror(NULL));
    return 0;
}

/* ---- the encoder ---- */

audio_encoder *audio_encoder_new(const char *format, int input_rate, const audio_sink *sink, r1_error *err) {
    int f = find_format(format);
    if (f < 0) return r1_error_set(err, "unknown audio format '%s' (wav, pcm, flac, opus)", format), NULL;
    if (input_rate < 1000) return r1_error_set(err, "bad input rate %d", input_rate), NULL;
    audio_encoder *e = calloc(1, sizeof *e);
    if (!e) return r1_error_set(err, "out of memory"), NULL;
    e->format = formats[f].format;
    e->sink = *sink;
    e->ratio = (double)AUDIO_OUTPUT_RATE / input_rate;
    int src_err = 0;
    if (input_rate != AUDIO_OUTPUT_RATE && !(e->resampler = src_new(SRC_SINC_FASTEST, 1, &src_err))) {
        r1_error_set(err, "resampler: %s", src_strerror(src_err));
        free(e);
        return NULL;
    }
    int rc = 0;
    if (e->format == FORMAT_WAV) {
        uint8_t h[44];
        wav_header(h, 0xFFFFFFFFu);
        rc = sink_write(e, h, sizeof h);
        if (rc) r1_error_set(err, "the audio sink refused the header");
    } else if (e->format != FORMAT_WAV && e->format != FORMAT_PCM) {
        rc = open_sndfile(e, err);
        if (rc == 0) rc = flush_held(e);
    }
    if (rc != 0) {
        audio_encoder_free(e);
        return NULL;
    }
    return e;
}

/* Encodes resampled float samples. */
static int encode(audio_encoder *e, float *x, size_t n, r1_error *err) {
    e->frames_out += n;
    if (e->sf) {
        /* the resampler's ringing can overshoot full scale: clip here, as the
         * integer path does */
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 1.0f ? 1.0f : x[i] < -1.0f ? -1.0f : x[i];
        for (size_t i = 0; i < n; i += SNDFILE_WRITE_FRAMES) {
            sf_count_t k = (sf_count_t)(n - i < SNDFILE_WRITE_FRAMES ? n - i : SNDFILE_WRITE_FRAMES);
            if (sf_writef_float(e->sf, x + i, k) != k) return r1_error_set(err, "encoding: %s", sf_strerror(e->sf));
        }
        return flush_held(e) == 0 ? 0 : r1_error_set(err, "the audio sink stopped");
    }
    uint8_t bytes[2 * RESAMPLE_FRAMES];
    for (size_t i = 0; i < n; i += RESAMPLE_FRAMES) {
        size_t k = n - i < RESAMPLE_FRAMES ? n - i : RESAMPLE_FRAMES;
        for (size_t j = 0; j < k; j++) {
            float v = x[i + j] * 32768.0f;
            int s = v >= 32767.0f ? 32767 : v <= -32768.0f ? -32768 : (int)lrintf(v);
            put_le(bytes + 2 * j, (uint32_t)(uint16_t)(int16_t)s, 2);
        }
        if (sink_write(e, bytes, 2 * k) != 0) return r1_error_set(err, "the audio sink stopped");
    }
    return 0;
}

static int resample_and_encode(audio_encoder *e, float *in, size_t n, bool last, r1_error *err) {
    if (!e->resampler) return encode(e, in, n, err);
    float out[RESAMPLE_FRAMES];
    SRC_DATA d = {.data_in = in, .input_frames = (long)n, .src_ratio = e->ratio, .end_of_input = last};
    do {
        d.data_out = out;
        d.output_frames = RESAMPLE_FRAMES;
        int src_err = src_process(e->resampler, &d);
        if (src_err) return r1_error_set(err, "resampler: %s", src_strerror(src_err));
        if (encode(e, out, (size_t)d.output_frames_gen, err) != 0) return -1;
        d.data_in += d.input_frames_used;
        d.input_frames -= d.input_frames_used;
    } while (d.input_frames > 0 || (last && d.output_frames_gen > 0));
    return 0;
}

int audio_encoder_write(audio_encoder *e, const int16_t *samples, size_t n, r1_error *err) {
    float x[RESAMPLE_FRAMES];
    for (size_t i = 0; i < n; i += RESAMPLE_FRAMES) {
        size_t k = n - i < RESAMPLE_FRAMES ? n - i : RESAMPLE_FRAMES;
        for (size_t j = 0; j < k; j++) x[j] = samples[i + j] / 32768.0f;
        if (resample_and_encode(e, x, k, false, err) != 0) return -1;
    }
    return 0;
}

int audio_encoder_finish(audio_encoder *e, r1_error *err) {
    if (resample_and_encode(e, NULL, 0, true, err) != 0) return -1;
    if (e->sf) {
        int rc = sf_close(e->sf);
        e->sf = NULL;
        if (rc != 0) return r1_error_set(err, "closing the stream: %s", sf_error_number(rc));
        if (flush_held(e) != 0) return r1_error_set(err, "the audio sink stopped");
    }
    if (e->format == FORMAT_WAV && e->sink.patch && e->frames_out * 2 <= 0xFFFFFFFFu - 36) {
        uint8_t h[44];
        wav_header(h, (uint32_t)(e->frames_out * 2));
        e->sink.patch(e->sink.user, 0, h, sizeof h);
    }
    return e->sink_stopped ? r1_error_set(err, "the audio sink stopped") : 0;
}

void audio_encoder_free(audio_encoder *e) {
    if (!e) return;
    if (e->sf) sf_close(e->sf);
    if (e->resampler) src_delete(e->resampler);
    free(e->held);
    free(e);
}

double audio_encoder_seconds(const audio_encoder *e) { return (double)e->frames_out / AUDIO_OUTPUT_RATE; }
