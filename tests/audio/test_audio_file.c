/* test_audio_file.c - audio in: the reference clips decode to 16 kHz mono,
 * bad files give one clear line, memory and path agree, a 44.1 kHz stereo
 * sine written here in several formats comes back as a 16 kHz mono sine. */
#include <malloc.h>
#include <sys/resource.h>
#include <math.h>
#include <ogg/ogg.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/audio_file.h"
#include "audio/vorbis_limits.h"
#include "testutil.h"

#define RATE 16000

static const struct {
    const char *name;
    double seconds;
} valid_clips[] = {
    {"jfk.wav", 11.0},         {"en_fox.wav", 3.44},      {"en_alarm.wav", 3.64},
    {"en_asr.wav", 4.22},      {"zh_weather.wav", 5.09},  {"zh_document.wav", 4.58},
    {"mix_meeting.wav", 5.60}, {"vad_en_fox_padded.wav", 6.44}, {"stereo_8k_float.wav", 3.64},
};

static const char *clip_path(const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s", test_testdata_path("asr/audio"));
    size_t len = strlen(path);
    snprintf(path + len, sizeof path - len, "/%s", name);
    return path;
}

static void assert_samples_in_range(const audio_pcm *a) {
    for (long i = 0; i < a->n_samples; i++)
        if (!(a->samples[i] >= -1.0f && a->samples[i] <= 1.0f)) fail_msg("sample %ld = %g is outside [-1, 1]", i, a->samples[i]);
}

static double rms(const float *x, long n) {
    double s = 0.0;
    for (long i = 0; i < n; i++) s += (double)x[i] * x[i];
    return n ? sqrt(s / n) : 0.0;
}

/* Every clip decodes to 16 kHz mono of the documented length, the same
 * from a path and from memory. */
static void test_valid_clips(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    for (size_t c = 0; c < sizeof valid_clips / sizeof valid_clips[0]; c++) {
        const char *path = clip_path(valid_clips[c].name);
        audio_pcm a, b;
        r1_error err = {{0}};
        if (audio_load_file(path, RATE, &a, &err) != 0) fail_msg("%s: %s", valid_clips[c].name, err.message);
        assert_int_equal(a.sample_rate, RATE);
        double expect = valid_clips[c].seconds;
        if (fabs(a.seconds - expect) > 0.01 || fabs((double)a.n_samples / RATE - expect) > 0.01 * expect)
            fail_msg("%s: %.3f s, %ld samples; expected %.2f s", valid_clips[c].name, a.seconds, a.n_samples, expect);
        assert_samples_in_range(&a);
        assert_true(rms(a.samples, a.n_samples) > 0.01); /* speech, not silence */

        size_t size;
        void *bytes = test_read_file(path, &size);
        assert_non_null(bytes);
        if (audio_load_memory(bytes, size, RATE, &b, &err) != 0) fail_msg("%s from memory: %s", valid_clips[c].name, err.message);
        assert_int_equal(b.n_samples, a.n_samples);
        assert_int_equal(b.source_rate, a.source_rate);
        assert_int_equal(b.source_channels, a.source_channels);
        assert_memory_equal(b.samples, a.samples, (size_t)a.n_samples * sizeof(float));
        printf("%-22s %5d Hz x%d -> %ld samples (%.3f s)\n", valid_clips[c].name, a.source_rate, a.source_channels,
               a.n_samples, a.seconds);
        free(bytes);
        audio_pcm_free(&a);
        audio_pcm_free(&b);
        assert_null(a.samples);
    }
}

/* A 16 kHz s16 file is passed through untouched: sample i is int16/32768. */
static void test_16k_is_exact(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    size_t size;
    unsigned char *bytes = test_read_file(clip_path("en_fox.wav"), &size);
    assert_non_null(bytes);
    assert_memory_equal(bytes + 36, "data", 4); /* the plain 44-byte header the README promises */
    long n = (long)(size - 44) / 2;
    audio_pcm a;
    r1_error err;
    assert_int_equal(audio_load_file(clip_path("en_fox.wav"), RATE, &a, &err), 0);
    assert_int_equal(a.n_samples, n);
    assert_int_equal(a.source_rate, RATE);
    assert_int_equal(a.source_channels, 1);
    for (long i = 0; i < n; i++) {
        int16_t v = (int16_t)(bytes[44 + 2 * i] | bytes[45 + 2 * i] << 8);
        if (a.samples[i] != v / 32768.0f) fail_msg("sample %ld: %g, file has %d", i, a.samples[i], v);
    }
    audio_pcm_free(&a);
    free(bytes);
}

/* Largest normalized cross-correlation of x and y over lags in [-max_lag, max_lag]. */
static double best_correlation(const float *x, long nx, const float *y, long ny, int max_lag, int *lag_out) {
    double best = -1.0;
    for (int lag = -max_lag; lag <= max_lag; lag++) {
        double xy = 0, xx = 0, yy = 0;
        for (long i = 0; i < nx; i++) {
            long j = i + lag;
            if (j < 0 || j >= ny) continue;
            xy += (double)x[i] * y[j];
            xx += (double)x[i] * x[i];
            yy += (double)y[j] * y[j];
        }
        double r = xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0;
        if (r > best) {
            best = r;
            *lag_out = lag;
        }
    }
    return best;
}

/* stereo 8 kHz float: down-mixed, resampled, and the same speech as en_alarm. */
static void test_stereo_8k_float(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    audio_pcm s, ref;
    r1_error err;
    if (audio_load_file(clip_path("stereo_8k_float.wav"), RATE, &s, &err) != 0) fail_msg("%s", err.message);
    assert_int_equal(audio_load_file(clip_path("en_alarm.wav"), RATE, &ref, &err), 0);
    assert_int_equal(s.source_rate, 8000);
    assert_int_equal(s.source_channels, 2);
    assert_int_equal(s.sample_rate, RATE);
    assert_true(fabs((double)s.n_samples / RATE - 3.64) < 0.01 * 3.64);
    int lag = 0;
    double r = best_correlation(s.samples, s.n_samples, ref.samples, ref.n_samples, 80, &lag);
    printf("stereo_8k_float vs en_alarm: correlation %.4f at lag %d samples, %ld vs %ld samples\n", r, lag, s.n_samples,
           ref.n_samples);
    assert_true(r > 0.9);
    assert_true(abs(lag) <= 8); /* the resampler keeps the timing */
    audio_pcm_free(&s);
    audio_pcm_free(&ref);
}

static void expect_error(int rc, const r1_error *err, const char *part1, const char *part2) {
    assert_int_equal(rc, -1);
    printf("  error: %s\n", err->message);
    if (!strstr(err->message, part1) || (part2 && !strstr(err->message, part2)))
        fail_msg("error '%s' should name '%s'%s%s", err->message, part1, part2 ? " and " : "", part2 ? part2 : "");
    assert_null(strchr(err->message, '\n'));
}

static void test_bad_files(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    static const struct {
        const char *name, *says;
    } bad[] = {
        {"bad_empty.wav", "empty"},
        {"bad_truncated_header.wav", "fmt "},
        {"bad_not_audio.wav", "not an audio format"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        audio_pcm a;
        r1_error err;
        const char *path = clip_path(bad[i].name);
        expect_error(audio_load_file(path, RATE, &a, &err), &err, bad[i].name, bad[i].says);
        assert_null(a.samples);
        size_t size;
        void *bytes = test_read_file(path, &size);
        assert_non_null(bytes);
        expect_error(audio_load_memory(bytes, size, RATE, &a, &err), &err, "upload: ", bad[i].says);
        free(bytes);
    }
    audio_pcm a;
    r1_error err;
    expect_error(audio_load_file("/nonexistent/x.wav", RATE, &a, &err), &err, "/nonexistent/x.wav", "No such file");
    expect_error(audio_load_file(test_testdata_path("asr"), RATE, &a, &err), &err, "folder", NULL);
    expect_error(audio_load_memory("", 0, RATE, &a, &err), &err, "upload: empty", NULL);
    expect_error(audio_load_memory(NULL, 0, RATE, &a, &err), &err, "upload: empty", NULL);
    expect_error(audio_load_file(clip_path("jfk.wav"), 0, &a, &err), &err, "target sample rate 0", NULL);
}

/* ---- WAV headers written by hand, for what libsndfile itself accepts ---- */

static void put16(unsigned char *p, unsigned v) {
    p[0] = v & 255, p[1] = v >> 8 & 255;
}
static void put32(unsigned char *p, unsigned v) {
    put16(p, v & 0xffff), put16(p + 2, v >> 16);
}

/* A PCM-16 WAV with the given header fields and data_bytes of a ramp. */
static size_t make_wav(unsigned char *buf, unsigned channels, unsigned rate, unsigned data_bytes) {
    memcpy(buf, "RIFF", 4);
    put32(buf + 4, 36 + data_bytes);
    memcpy(buf + 8, "WAVEfmt ", 8);
    put32(buf + 16, 16);
    put16(buf + 20, 1); /* PCM */
    put16(buf + 22, channels);
    put32(buf + 24, rate);
    put32(buf + 28, rate * channels * 2);
    put16(buf + 32, channels * 2);
    put16(buf + 34, 16);
    memcpy(buf + 36, "data", 4);
    put32(buf + 40, data_bytes);
    for (unsigned i = 0; i < data_bytes; i++) buf[44 + i] = (unsigned char)(i * 7);
    return 44 + data_bytes;
}

static void test_limits(void **state) {
    (void)state;
    static unsigned char buf[44 + 65 * 2 * 100];
    audio_pcm a;
    r1_error err;
    size_t n = make_wav(buf, 65, 16000, 65 * 2 * 100);
    expect_error(audio_load_memory(buf, n, RATE, &a, &err), &err, "upload: 65 channels", NULL);
    n = make_wav(buf, 64, 16000, 64 * 2 * 100);
    assert_int_equal(audio_load_memory(buf, n, RATE, &a, &err), 0); /* 64 is still fine */
    assert_int_equal(a.source_channels, 64);
    assert_int_equal(a.n_samples, 100);
    audio_pcm_free(&a);
    n = make_wav(buf, 1, 500, 2000);
    expect_error(audio_load_memory(buf, n, RATE, &a, &err), &err, "sample rate 500 Hz", NULL);
    n = make_wav(buf, 1, 400000, 2000);
    expect_error(audio_load_memory(buf, n, RATE, &a, &err), &err, "sample rate 400000 Hz", NULL);
    n = make_wav(buf, 1, 100000, 2); /* one frame, a sixth of an output sample */
    expect_error(audio_load_memory(buf, n, RATE, &a, &err), &err, "too short", NULL);
    n = make_wav(buf, 1, 16000, 0);
    expect_error(audio_load_memory(buf, n, RATE, &a, &err), &err, "no audio frames", NULL);
    /* a header promising far more data than there is: only what is there */
    n = make_wav(buf, 1, 16000, 2000);
    put32(buf + 40, 0x7ffffff0u);
    if (audio_load_memory(buf, n, RATE, &a, &err) == 0) {
        assert_true(a.n_samples <= 1000);
        audio_pcm_free(&a);
    }
    if (test_require_testdata("asr")) {
        expect_error(audio_load_file_limited(clip_path("jfk.wav"), RATE, 5.0, &a, &err), &err, "11 s of audio",
                     "limit of 5 s");
        expect_error(audio_load_file_limited(clip_path("jfk.wav"), RATE, 0.0, &a, &err), &err, "not positive", NULL);
    }
}

/* Every prefix of a real file, from memory: an error line or audio, never a crash. */
static void test_truncations(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    const char *names[] = {"en_fox.wav", "stereo_8k_float.wav"};
    for (int f = 0; f < 2; f++) {
        size_t size;
        unsigned char *bytes = test_read_file(clip_path(names[f]), &size);
        assert_non_null(bytes);
        int ok = 0, failed = 0;
        for (size_t cut = 0; cut < size; cut += cut < 300 ? 1 : 997) {
            audio_pcm a;
            r1_error err = {{0}};
            if (audio_load_memory(bytes, cut, RATE, &a, &err) == 0) {
                assert_true(a.n_samples > 0);
                assert_samples_in_range(&a);
                audio_pcm_free(&a);
                ok++;
            } else {
                assert_true(err.message[0] != '\0');
                failed++;
            }
        }
        printf("%s prefixes: %d decode, %d refused\n", names[f], ok, failed);
        assert_true(failed > 0 && ok > 0);
        free(bytes);
    }
}

/* ---- a sine written by libsndfile in several formats ---- */

#define SINE_HZ 440.0
#define SINE_RATE 44100
#define SINE_SECONDS 2

/* Writes 2 s of a stereo 440 Hz sine (left 0.6, right 0.2: the mono mix
 * is 0.4) at rate (up to SINE_RATE); false when libsndfile cannot write
 * that format. */
static bool write_sine_at(const char *path, int format, int rate) {
    SF_INFO info = {.samplerate = rate, .channels = 2, .format = format};
    if (rate > SINE_RATE || !sf_format_check(&info)) return false;
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) return false;
    static float frames[SINE_RATE * SINE_SECONDS * 2];
    for (int i = 0; i < rate * SINE_SECONDS; i++) {
        double s = sin(2.0 * M_PI * SINE_HZ * i / rate);
        frames[2 * i] = (float)(0.6 * s);
        frames[2 * i + 1] = (float)(0.2 * s);
    }
    bool ok = sf_writef_float(sf, frames, rate * SINE_SECONDS) == rate * SINE_SECONDS;
    return sf_close(sf) == 0 && ok;
}

static bool write_sine(const char *path, int format) {
    return write_sine_at(path, format, SINE_RATE);
}

/* Frequency from zero crossings (upward) between samples a and b. */
static double crossing_frequency(const float *x, long a, long b) {
    long first = -1, last = -1, count = 0;
    for (long i = a + 1; i < b; i++)
        if (x[i - 1] < 0 && x[i] >= 0) {
            if (first < 0) first = i;
            last = i;
            count++;
        }
    return count > 1 ? (count - 1) * (double)RATE / (double)(last - first) : 0.0;
}

/* Largest difference from 0.4 sin(2 pi 440 t) between samples a and b. */
static double max_sine_error(const float *x, long a, long b) {
    double worst = 0;
    for (long i = a; i < b; i++) {
        double want = 0.4 * sin(2.0 * M_PI * SINE_HZ * i / RATE);
        if (fabs(x[i] - want) > worst) worst = fabs(x[i] - want);
    }
    return worst;
}

static void test_sine_formats(void **state) {
    (void)state;
    static const struct {
        const char *name;
        int format;
        bool lossy;
    } formats[] = {
        {"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, false},
        {"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, false},
        {"ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, true},
        {"mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, true},
    };
    char dir[] = "/tmp/r1_test_audio_XXXXXX";
    assert_non_null(mkdtemp(dir));
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        char path[256];
        snprintf(path, sizeof path, "%s/sine.%s", dir, formats[f].name);
        if (!write_sine(path, formats[f].format)) fail_msg("libsndfile cannot write %s here", formats[f].name);
        audio_pcm a;
        r1_error err;
        if (audio_load_file(path, RATE, &a, &err) != 0) fail_msg("%s", err.message);
        assert_int_equal(a.source_rate, SINE_RATE);
        assert_int_equal(a.source_channels, 2);
        long mid = a.n_samples / 2, half = RATE / 4; /* the middle 0.5 s, clear of codec edges */
        double hz = crossing_frequency(a.samples, mid - half, mid + half);
        double amplitude = rms(a.samples + mid - half, 2 * half) * sqrt(2.0);
        double err_max = max_sine_error(a.samples, mid - half, mid + half);
        printf("%-4s: %ld samples (%.3f s), %.2f Hz, amplitude %.4f, max error vs ideal %.2g\n", formats[f].name,
               a.n_samples, a.seconds, hz, amplitude, err_max);
        assert_true(fabs(hz - SINE_HZ) < 2.0);
        assert_true(fabs(amplitude - 0.4) < (formats[f].lossy ? 0.04 : 0.004));
        double want = SINE_SECONDS * (double)RATE;
        assert_true(fabs(a.n_samples - want) < (formats[f].lossy ? 0.05 : 0.001) * want);
        if (!formats[f].lossy) assert_true(err_max < 0.01); /* the mix and the rate change keep phase and level */
        audio_pcm_free(&a);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- Ogg Vorbis (audio_vorbis.c): chains and damaged headers ---- */

/* The bytes of a 2 s stereo Ogg Vorbis sine at rate, written by libsndfile
 * (each file gets a random stream serial number). */
static unsigned char *vorbis_sine(int rate, size_t *size) {
    char path[] = "/tmp/r1_test_vorbis_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    if (!write_sine_at(path, SF_FORMAT_OGG | SF_FORMAT_VORBIS, rate)) fail_msg("libsndfile cannot write Ogg Vorbis");
    unsigned char *bytes = test_read_file(path, size);
    assert_non_null(bytes);
    unlink(path);
    return bytes;
}

/* The length of the Ogg page at p: its header, lacing table and body. */
static size_t ogg_page_length(const unsigned char *p) {
    size_t segments = p[26], body = 0;
    for (size_t i = 0; i < segments; i++) body += p[27 + i];
    return 27 + segments + body;
}

/* Recomputes the checksum of the page at p after an edit, so that the
 * edit reaches the Vorbis decoder instead of failing the page's CRC. */
static void ogg_page_fix_checksum(unsigned char *p) {
    size_t header = 27 + (size_t)p[26];
    ogg_page page = {.header = p, .header_len = (long)header, .body = p + header,
                     .body_len = (long)(ogg_page_length(p) - header)};
    ogg_page_checksum_set(&page);
}

/* Two streams one after another (a chained Ogg file) decode as one; a
 * chain whose second link has another sample rate is refused by name. */
static void test_vorbis_chain(void **state) {
    (void)state;
    size_t first_size, second_size, other_size;
    unsigned char *first = vorbis_sine(SINE_RATE, &first_size), *second = vorbis_sine(SINE_RATE, &second_size);
    unsigned char *other = vorbis_sine(22050, &other_size);
    unsigned char *chain = malloc(first_size + second_size + other_size);
    assert_non_null(chain);
    memcpy(chain, first, first_size);
    memcpy(chain + first_size, second, second_size);
    audio_pcm a;
    r1_error err;
    if (audio_load_memory(chain, first_size + second_size, RATE, &a, &err) != 0) fail_msg("%s", err.message);
    printf("chain of two 2 s streams: %.3f s, %ld samples\n", a.seconds, a.n_samples);
    assert_true(fabs(a.seconds - 2.0 * SINE_SECONDS) < 0.05);
    assert_true(fabs(crossing_frequency(a.samples, RATE * 3 - RATE / 4, RATE * 3 + RATE / 4) - SINE_HZ) < 2.0);
    audio_pcm_free(&a);
    /* the same with the first stream's last page not flagged as last */
    size_t last = 0;
    while (last + ogg_page_length(chain + last) < first_size) last += ogg_page_length(chain + last);
    assert_true(chain[last + 5] & 0x04);
    chain[last + 5] &= (unsigned char)~0x04;
    ogg_page_fix_checksum(chain + last);
    if (audio_load_memory(chain, first_size + second_size, RATE, &a, &err) != 0) fail_msg("%s", err.message);
    printf("the same without the first stream's last-page flag: %.3f s\n", a.seconds);
    assert_true(fabs(a.seconds - 2.0 * SINE_SECONDS) < 0.05);
    audio_pcm_free(&a);
    memcpy(chain + first_size, other, other_size);
    expect_error(audio_load_memory(chain, first_size + other_size, RATE, &a, &err), &err, "upload: ",
                 "changes its sample rate from 44100 to 22050 Hz");
    free(chain);
    free(first);
    free(second);
    free(other);
}

/* Bytes in use on the heap (glibc's count; 0 under AddressSanitizer, whose
 * leak checker watches instead). */
static size_t heap_in_use(void) {
    return mallinfo2().uordblks;
}

/* Decoding bytes 500 times leaves the heap as it was, whether they are
 * refused or not. */
static void expect_no_memory_kept(const unsigned char *bytes, size_t size, const char *what) {
    audio_pcm a;
    r1_error err;
    if (audio_load_memory(bytes, size, RATE, &a, &err) == 0) audio_pcm_free(&a); /* first-use allocations */
    size_t before = heap_in_use();
    int refused = 0;
    for (int i = 0; i < 500; i++) {
        if (audio_load_memory(bytes, size, RATE, &a, &err) != 0) refused++;
        else audio_pcm_free(&a);
    }
    long grown = (long)heap_in_use() - (long)before; /* the heap may also shrink */
    printf("%s: %d of 500 refused, the heap grew by %ld bytes\n", what, refused, grown);
    assert_true(grown < 64 * 1024); /* libsndfile: ~2.9 MB for 500 refusals */
}

/* Damaged headers are refused with one named line, and a refusal costs no
 * memory: libsndfile, which read Ogg Vorbis before audio_vorbis.c, kept
 * ~5.8 KB of every malformed stream. Every prefix of the header pages is
 * refused or decoded, never worse. */
static void test_vorbis_damaged_headers(void **state) {
    (void)state;
    size_t size;
    unsigned char *good = vorbis_sine(SINE_RATE, &size);
    unsigned char *bad = malloc(size);
    assert_non_null(bad);
    size_t first_page = ogg_page_length(good), header = 27 + (size_t)good[26];
    assert_memory_equal(good + header, "\x01vorbis", 7);

    /* the identification header says 0 channels */
    memcpy(bad, good, size);
    bad[header + 11] = 0;
    ogg_page_fix_checksum(bad);
    audio_pcm a;
    r1_error err;
    expect_error(audio_load_memory(bad, size, RATE, &a, &err), &err, "upload: ", "invalid Vorbis identification header");
    expect_no_memory_kept(bad, size, "0 channels");

    /* the first page's sequence number is not 0 (libsndfile still took
     * such a stream for Vorbis, and leaked, where a first version of
     * audio_vorbis.c had guessed otherwise: found by fuzz_audio) */
    memcpy(bad, good, size);
    bad[header + 11] = 0;
    bad[19] = 0xb0;
    ogg_page_fix_checksum(bad);
    expect_no_memory_kept(bad, size, "0 channels, first page number 0xb000");

    /* the comment header's page is lost: the setup header follows a gap */
    size_t second_page = ogg_page_length(good + first_page);
    memcpy(bad, good, first_page);
    memcpy(bad + first_page, good + first_page + second_page, size - first_page - second_page);
    expect_error(audio_load_memory(bad, size - second_page, RATE, &a, &err), &err, "upload: ", "Vorbis");

    /* the same from a file */
    char path[] = "/tmp/r1_test_vorbis_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bad, size - second_page), (ssize_t)(size - second_page));
    close(fd);
    expect_error(audio_load_file(path, RATE, &a, &err), &err, path, "Vorbis");
    unlink(path);

    /* every prefix through the three header packets and the first audio page */
    size_t through = first_page + second_page;
    through += ogg_page_length(good + through);
    int refused = 0, decoded = 0;
    for (size_t cut = 0; cut <= through && cut < size; cut++) {
        if (audio_load_memory(good, cut, RATE, &a, &err) == 0) {
            assert_samples_in_range(&a);
            audio_pcm_free(&a);
            decoded++;
        } else {
            assert_true(err.message[0] != '\0' && !strchr(err.message, '\n'));
            refused++;
        }
    }
    printf("Ogg Vorbis prefixes up to byte %zu: %d refused, %d decoded\n", through, refused, decoded);
    assert_true(refused > 0);
    free(bad);
    free(good);
}

/* ---- codebook limits (vorbis_limits.c) ---- */

/* The three header packets of an Ogg Vorbis file, copied. */
typedef struct vorbis_headers {
    ogg_packet packet[3];
} vorbis_headers;

static void read_vorbis_headers(const unsigned char *bytes, size_t size, vorbis_headers *h) {
    ogg_sync_state sync;
    ogg_stream_state stream;
    ogg_page page;
    ogg_sync_init(&sync);
    memcpy(ogg_sync_buffer(&sync, (long)size), bytes, size);
    ogg_sync_wrote(&sync, (long)size);
    int got = 0;
    while (got < 3 && ogg_sync_pageout(&sync, &page) == 1) {
        if (got == 0) ogg_stream_init(&stream, ogg_page_serialno(&page));
        ogg_stream_pagein(&stream, &page);
        ogg_packet p;
        while (got < 3 && ogg_stream_packetout(&stream, &p) == 1) {
            h->packet[got] = p;
            h->packet[got].packet = malloc((size_t)p.bytes);
            memcpy(h->packet[got++].packet, p.packet, (size_t)p.bytes);
        }
    }
    assert_int_equal(got, 3);
    ogg_stream_clear(&stream);
    ogg_sync_clear(&sync);
}

/* An Ogg stream of the three packets (no audio), each packet on a page
 * of its own. */
static unsigned char *ogg_of_headers(const ogg_packet *packets, size_t *size) {
    ogg_stream_state stream;
    ogg_stream_init(&stream, 1234);
    unsigned char *out = NULL;
    *size = 0;
    for (int i = 0; i < 3; i++) {
        ogg_stream_packetin(&stream, (ogg_packet *)&packets[i]);
        ogg_page page;
        while (ogg_stream_flush(&stream, &page)) {
            out = realloc(out, *size + (size_t)page.header_len + (size_t)page.body_len);
            assert_non_null(out);
            memcpy(out + *size, page.header, (size_t)page.header_len);
            memcpy(out + *size + page.header_len, page.body, (size_t)page.body_len);
            *size += (size_t)page.header_len + (size_t)page.body_len;
        }
    }
    ogg_stream_clear(&stream);
    return out;
}

/* The offset of page `index` (from 0) of an Ogg file. */
static size_t ogg_page_at(const unsigned char *bytes, int index) {
    size_t at = 0;
    for (int i = 0; i < index; i++) at += ogg_page_length(bytes + at);
    return at;
}

/* Peak resident memory of this process so far, in MB. */
static long peak_rss_mb(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss / 1024;
}

/* A setup header of `books` codebooks of `entries` entries each, all of
 * one code length ("ordered"): a few bytes per book, whatever the count. */
static ogg_packet crafted_setup_header(oggpack_buffer *w, int books, long entries) {
    oggpack_writeinit(w);
    oggpack_write(w, 5, 8);
    for (const char *c = "vorbis"; *c; c++) oggpack_write(w, (unsigned long)*c, 8);
    oggpack_write(w, (unsigned long)books - 1, 8);
    int length_bits = 0;
    while ((1L << length_bits) < entries) length_bits++;
    for (int b = 0; b < books; b++) {
        oggpack_write(w, 0x564342, 24);
        oggpack_write(w, 1, 16);                                  /* dimensions */
        oggpack_write(w, (unsigned long)entries, 24);
        oggpack_write(w, 1, 1);                                   /* ordered */
        oggpack_write(w, (unsigned long)length_bits - 1, 5);      /* every code this long */
        int run_bits = 0;
        while (run_bits < 32 && (1L << run_bits) <= entries) run_bits++;
        oggpack_write(w, (unsigned long)entries, run_bits);       /* one run: all entries */
        oggpack_write(w, 0, 4);                                   /* no values */
    }
    return (ogg_packet){.packet = oggpack_get_buffer(w), .bytes = oggpack_bytes(w), .packetno = 2};
}

/* A whole setup header: one codebook of 65536 entries and 16 dimensions,
 * no values; one floor of type 1 with no partitions; 64 residues of 2
 * partitions classified by that book (2^16 = 65536 partition values
 * each); one mapping and one mode. */
static ogg_packet residue_bomb_setup_header(oggpack_buffer *w) {
    oggpack_writeinit(w);
    oggpack_write(w, 5, 8);
    for (const char *c = "vorbis"; *c; c++) oggpack_write(w, (unsigned long)*c, 8);
    oggpack_write(w, 0, 8); /* one codebook */
    oggpack_write(w, 0x564342, 24);
    oggpack_write(w, 16, 16);    /* dimensions */
    oggpack_write(w, 65536, 24); /* entries */
    oggpack_write(w, 1, 1);      /* ordered */
    oggpack_write(w, 15, 5);     /* every code 16 bits long */
    oggpack_write(w, 65536, 17); /* one run: all entries */
    oggpack_write(w, 0, 4);      /* no values */
    oggpack_write(w, 0, 6);      /* one time domain transform */
    oggpack_write(w, 0, 16);
    oggpack_write(w, 0, 6);      /* one floor */
    oggpack_write(w, 1, 16);     /* type 1 */
    oggpack_write(w, 0, 5);      /* no partitions */
    oggpack_write(w, 0, 2);      /* multiplier 1 */
    oggpack_write(w, 8, 4);      /* range bits */
    oggpack_write(w, 63, 6);     /* 64 residues */
    for (int r = 0; r < 64; r++) {
        oggpack_write(w, 0, 16); /* type 0 */
        oggpack_write(w, 0, 24);
        oggpack_write(w, 64, 24);
        oggpack_write(w, 15, 24); /* partition size 16 */
        oggpack_write(w, 1, 6);   /* 2 partitions */
        oggpack_write(w, 0, 8);   /* classified by book 0 */
        for (int p = 0; p < 2; p++) oggpack_write(w, 0, 4); /* no stages */
    }
    oggpack_write(w, 0, 6);  /* one mapping */
    oggpack_write(w, 0, 16); /* type 0 */
    oggpack_write(w, 0, 1);  /* one submap */
    oggpack_write(w, 0, 1);  /* no coupling */
    oggpack_write(w, 0, 2);
    oggpack_write(w, 0, 8);  /* submap 0: time, */
    oggpack_write(w, 0, 8);  /* floor 0, */
    oggpack_write(w, 0, 8);  /* residue 0 */
    oggpack_write(w, 0, 6);  /* one mode */
    oggpack_write(w, 0, 1);
    oggpack_write(w, 0, 16);
    oggpack_write(w, 0, 16);
    oggpack_write(w, 0, 8);
    oggpack_write(w, 1, 1); /* framing */
    return (ogg_packet){.packet = oggpack_get_buffer(w), .bytes = oggpack_bytes(w), .packetno = 2};
}

/* Setup headers that would make libvorbis allocate hundreds of megabytes
 * (or overflow a thread's stack sorting one huge book) are refused before
 * libvorbis reads them; a real encoder's fit well within the limits. */
static void test_vorbis_codebook_limits(void **state) {
    (void)state;
    size_t size;
    unsigned char *good = vorbis_sine(SINE_RATE, &size);
    vorbis_headers h;
    read_vorbis_headers(good, size, &h);
    vorbis_setup_cost real = vorbis_setup_header_cost(h.packet[2].packet, h.packet[2].bytes);
    printf("libvorbis's own setup header (%ld bytes): %.2f MB of codebooks, largest book %ld entries\n",
           h.packet[2].bytes, real.bytes / 1048576.0, real.largest_book);
    assert_true(real.bytes > 0 && real.bytes < VORBIS_LINK_MAX_BYTES / 8);
    assert_true(real.largest_book > 0 && real.largest_book <= VORBIS_BOOK_MAX_ENTRIES / 8);
    assert_true(real.residues_walked); /* the floors and residues of a real header are followed to the end */

    static const struct {
        int books;
        long entries;
        const char *says;
    } crafted[] = {
        {1, (1L << 23) - 1, "a Vorbis codebook of 8388607 entries (the limit is 65536)"},
        {64, 60000, "setup would take 243 MB to decode (the limit is 16 MB)"},
    };
    for (size_t i = 0; i < sizeof crafted / sizeof crafted[0]; i++) {
        oggpack_buffer w;
        ogg_packet packets[3] = {h.packet[0], h.packet[1], crafted_setup_header(&w, crafted[i].books, crafted[i].entries)};
        printf("%d books of %ld entries in %ld bytes:\n", crafted[i].books, crafted[i].entries, packets[2].bytes);
        size_t n;
        unsigned char *bytes = ogg_of_headers(packets, &n);
        audio_pcm a;
        r1_error err;
        expect_error(audio_load_memory(bytes, n, RATE, &a, &err), &err, "upload: ", crafted[i].says);
        free(bytes);
        oggpack_writeclear(&w);
    }
    /* The crafted header behind page flags that made an earlier version's
     * separate walk over the pages skip it while libvorbisfile, which it
     * used then, still read it (found by a review; 131 MB): a first-page (BOS) flag on the setup
     * header's page, a last-page (EOS) flag on the identification or the
     * comment page. Each is refused, and memory stays low. */
    static const struct {
        int page, flag;
        const char *layout;
    } flagged[] = {{2, 0x02, "BOS on the setup page"}, {0, 0x04, "EOS on the identification page"},
                   {1, 0x04, "EOS on the comment page"}};
    for (size_t i = 0; i < sizeof flagged / sizeof flagged[0]; i++) {
        oggpack_buffer w;
        ogg_packet packets[3] = {h.packet[0], h.packet[1], crafted_setup_header(&w, 16, (1L << 23) - 1)};
        size_t n;
        unsigned char *bytes = ogg_of_headers(packets, &n);
        size_t at = ogg_page_at(bytes, flagged[i].page);
        bytes[at + 5] |= (unsigned char)flagged[i].flag;
        ogg_page_fix_checksum(bytes + at);
        long peak = peak_rss_mb();
        audio_pcm a;
        r1_error err;
        printf("%s:\n", flagged[i].layout);
        expect_error(audio_load_memory(bytes, n, RATE, &a, &err), &err, "upload: ", NULL);
        if (peak_rss_mb() > peak + 32) fail_msg("%s: peak memory %ld -> %ld MB", flagged[i].layout, peak, peak_rss_mb());
        free(bytes);
        oggpack_writeclear(&w);
    }

    /* a whole setup header (the walk follows it to its end) whose 64
     * residues classify by one book of 65536 entries and 16 dimensions:
     * libvorbis would build 64 maps of 2^16 arrays (354 MB from ~1 KB,
     * found by a review) */
    {
        oggpack_buffer w;
        ogg_packet packets[3] = {h.packet[0], h.packet[1], residue_bomb_setup_header(&w)};
        vorbis_setup_cost cost = vorbis_setup_header_cost(packets[2].packet, packets[2].bytes);
        printf("64 residues on a book of 65536 entries x 16 in %ld bytes: %.0f MB, walked to the end: %d\n",
               packets[2].bytes, cost.bytes / 1048576.0, cost.residues_walked);
        assert_true(cost.residues_walked);
        size_t n;
        unsigned char *bytes = ogg_of_headers(packets, &n);
        long peak = peak_rss_mb();
        audio_pcm a;
        r1_error err;
        expect_error(audio_load_memory(bytes, n, RATE, &a, &err), &err, "upload: ", "setup would take");
        if (peak_rss_mb() > peak + 32) fail_msg("residues: peak memory %ld -> %ld MB", peak, peak_rss_mb());
        free(bytes);
        oggpack_writeclear(&w);
    }

    /* a comment header of 20000 empty comments (libvorbis: ~50 bytes each) */
    {
        oggpack_buffer w;
        oggpack_writeinit(&w);
        oggpack_write(&w, 3, 8);
        for (const char *c = "vorbis"; *c; c++) oggpack_write(&w, (unsigned long)*c, 8);
        oggpack_write(&w, 0, 32);     /* vendor: empty */
        oggpack_write(&w, 20000, 32); /* comments */
        for (int i = 0; i < 20000; i++) oggpack_write(&w, 0, 32);
        oggpack_write(&w, 1, 1); /* framing */
        ogg_packet packets[3] = {h.packet[0], {.packet = oggpack_get_buffer(&w), .bytes = oggpack_bytes(&w), .packetno = 1},
                                 h.packet[2]};
        assert_int_equal(vorbis_comment_header_count(packets[1].packet, packets[1].bytes), 20000);
        size_t n;
        unsigned char *bytes = ogg_of_headers(packets, &n);
        audio_pcm a;
        r1_error err;
        expect_error(audio_load_memory(bytes, n, RATE, &a, &err), &err, "upload: ",
                     "comment header of 20000 comments (the limit is 10000)");
        free(bytes);
        oggpack_writeclear(&w);
    }
    assert_int_equal(vorbis_comment_header_count(h.packet[1].packet, h.packet[1].bytes) >= 0, 1);

    /* the same headers with libvorbis's own setup header decode nowhere
     * (no audio pages), but are not refused by the limits */
    size_t n;
    unsigned char *bytes = ogg_of_headers(h.packet, &n);
    audio_pcm a;
    r1_error err;
    assert_int_equal(audio_load_memory(bytes, n, RATE, &a, &err), -1);
    if (strstr(err.message, "limit")) fail_msg("refused by a limit: %s", err.message);
    free(bytes);
    for (int i = 0; i < 3; i++) free(h.packet[i].packet);
    free(good);
}

/* Ogg inputs of other codecs still go to libsndfile (Opus decodes), and a
 * first page that only looks like another codec's does not: a first page
 * that continues a packet beginning "\x01vorbis" and then holds an Opus
 * header went to libsndfile's Vorbis reader, which leaked (found by a
 * review); it now comes to audio_vorbis.c and is refused cleanly. */
static void test_ogg_routing(void **state) {
    (void)state;
    char path[] = "/tmp/r1_test_opus_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    if (!write_sine_at(path, SF_FORMAT_OGG | SF_FORMAT_OPUS, 24000)) fail_msg("libsndfile cannot write Ogg Opus");
    audio_pcm a;
    r1_error err;
    if (audio_load_file(path, RATE, &a, &err) != 0) fail_msg("Ogg Opus: %s", err.message);
    printf("Ogg Opus (libsndfile): %.3f s\n", a.seconds);
    assert_true(fabs(a.seconds - SINE_SECONDS) < 0.05);
    audio_pcm_free(&a);
    unlink(path);

    /* one page: continued + first-page flags, segments of 7 and 19 bytes */
    static const unsigned char opus_head[19] = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 1, 0, 0, 0x80, 0xBB, 0, 0, 0, 0, 0};
    unsigned char page[27 + 2 + 7 + 19] = {'O', 'g', 'g', 'S', 0, 0x03};
    page[14] = 7; /* serial number */
    page[26] = 2;
    page[27] = 7;
    page[28] = 19;
    memcpy(page + 29, "\x01vorbis", 7);
    memcpy(page + 36, opus_head, sizeof opus_head);
    ogg_page_fix_checksum(page);
    expect_error(audio_load_memory(page, sizeof page, RATE, &a, &err), &err, "upload: ", "Vorbis");
    expect_no_memory_kept(page, sizeof page, "a continued first page beginning \"\\x01vorbis\", then OpusHead");

    /* nothing but false starts of pages ("OggS" and a header claiming a
     * 64 KB page, every 8 bytes): each costs libogg a checksum, so such
     * input is refused after 64 KB outside any page */
    size_t false_starts_size = 1 << 20;
    unsigned char *false_starts = malloc(false_starts_size);
    assert_non_null(false_starts);
    for (size_t i = 0; i < false_starts_size; i += 8) memcpy(false_starts + i, "OggS\xff\xff\xff\xff", 8);
    expect_error(audio_load_memory(false_starts, false_starts_size, RATE, &a, &err), &err, "upload: ",
                 "more than 64 KB of the Ogg data lie outside any page");
    free(false_starts);

    /* an ID3v2 tag in front: libsndfile skips it and reads the Vorbis
     * behind it (found by a review), so such inputs come here too: a good
     * one decodes, a damaged one is refused at no cost */
    size_t size;
    unsigned char *good = vorbis_sine(SINE_RATE, &size);
    unsigned char *tagged = malloc(20 + size);
    assert_non_null(tagged);
    memcpy(tagged, "ID3\x03\x00\x00\x00\x00\x00\x0a", 10); /* version 2.3, 10 bytes of tag */
    memset(tagged + 10, 0, 10);
    memcpy(tagged + 20, good, size);
    if (audio_load_memory(tagged, 20 + size, RATE, &a, &err) != 0) fail_msg("ID3 + Ogg Vorbis: %s", err.message);
    assert_true(fabs(a.seconds - SINE_SECONDS) < 0.05);
    audio_pcm_free(&a);
    size_t header = 20 + 27 + (size_t)tagged[20 + 26];
    tagged[header + 11] = 0; /* 0 channels */
    ogg_page_fix_checksum(tagged + 20);
    expect_error(audio_load_memory(tagged, 20 + size, RATE, &a, &err), &err, "upload: ", "Vorbis");
    expect_no_memory_kept(tagged, 20 + size, "ID3v2 tag, then a damaged Ogg Vorbis");

    /* 65 empty ID3v2 tags one after another: refused by name */
    unsigned char many_tags[65 * 10 + 64];
    for (int t = 0; t < 65; t++) memcpy(many_tags + 10 * t, "ID3\x03\x00\x00\x00\x00\x00\x00", 10);
    memset(many_tags + 650, 0, 64);
    expect_error(audio_load_memory(many_tags, sizeof many_tags, RATE, &a, &err), &err, "upload: ",
                 "more than 64 ID3 tags");
    free(tagged);
    free(good);
}

/* Files with ID3v2 tags in front decode from memory and by path: tagged
 * MP3, FLAC and WAV are left to libsndfile whole (an earlier version cut
 * the tags off for every input, and tagged MP3 then depended on the
 * working directory, found by a review); tagged Ogg Vorbis comes to
 * audio_vorbis.c. And an Ogg Vorbis file with 100 KB of zeros appended
 * decodes: bytes outside pages after the audio end the input. */
static void test_tagged_and_trailing(void **state) {
    (void)state;
    static const struct {
        const char *ext;
        int format;
    } formats[] = {{"mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III}, {"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},
                   {"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16}, {"ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS}};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/r1_test_tagged_%d.%s", (int)getpid(), formats[f].ext);
        if (!write_sine(path, formats[f].format)) fail_msg("libsndfile cannot write %s", formats[f].ext);
        size_t size;
        unsigned char *plain = test_read_file(path, &size);
        assert_non_null(plain);
        unsigned char *tagged = malloc(size + 30);
        assert_non_null(tagged);
        memcpy(tagged, "ID3\x03\x00\x00\x00\x00\x00\x14", 10); /* version 2.3, 20 bytes of tag */
        memset(tagged + 10, 0, 20);
        memcpy(tagged + 30, plain, size);
        FILE *out = fopen(path, "wb");
        assert_non_null(out);
        assert_int_equal(fwrite(tagged, 1, size + 30, out), size + 30);
        fclose(out);
        audio_pcm a;
        r1_error err;
        if (audio_load_memory(tagged, size + 30, RATE, &a, &err) != 0) fail_msg("tagged %s: %s", formats[f].ext, err.message);
        assert_true(fabs(a.seconds - SINE_SECONDS) < 0.05);
        audio_pcm_free(&a);
        if (audio_load_file(path, RATE, &a, &err) != 0) fail_msg("tagged %s by path: %s", formats[f].ext, err.message);
        assert_true(fabs(a.seconds - SINE_SECONDS) < 0.05);
        printf("%s with an ID3v2 tag in front: %.3f s from memory and by path\n", formats[f].ext, a.seconds);
        audio_pcm_free(&a);
        if (strcmp(formats[f].ext, "ogg") == 0) {
            unsigned char *trailing = calloc(1, size + 100 * 1024);
            assert_non_null(trailing);
            memcpy(trailing, plain, size);
            if (audio_load_memory(trailing, size + 100 * 1024, RATE, &a, &err) != 0)
                fail_msg("Ogg Vorbis and 100 KB of zeros: %s", err.message);
            printf("Ogg Vorbis with 100 KB of zeros appended: %.3f s\n", a.seconds);
            assert_true(fabs(a.seconds - SINE_SECONDS) < 0.05);
            audio_pcm_free(&a);
            free(trailing);
        }
        unlink(path);
        free(tagged);
        free(plain);
    }
}

/* The fuzz findings kept as seeds (fuzz/corpus-audio/regress-*), with
 * their Ogg pages' checksums recomputed as fuzz_audio does: each decodes
 * or is refused, and costs no memory (under AddressSanitizer the leak
 * checker also sees the few bytes the heap count would miss). */
static void test_fuzz_findings(void **state) {
    (void)state;
    static const char *seeds[] = {"regress-vorbis-leak.ogg", "regress-vorbis-page-number.ogg",
                                  "regress-vorbisfile-chain-leak.ogg", "regress-1-frame-73khz.wav",
                                  "regress-id3-ogg-offset.ogg", "regress-id3-view-memory.ogg",
                                  "regress-id3-view-opus.ogg", "regress-id3-path-offset.ogg", "regress-id3-decoy.ogg"};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/fuzz/corpus-audio/%s", R1_SOURCE_DIR, seeds[i]);
        size_t size;
        unsigned char *bytes = test_read_file(path, &size);
        if (!bytes) fail_msg("cannot read %s", path);
        for (size_t at = 0; at + 27 <= size && memcmp(bytes + at, "OggS", 4) == 0;) {
            size_t length = 27 + (size_t)bytes[at + 26];
            if (length > size - at || ogg_page_length(bytes + at) > size - at) break;
            ogg_page_fix_checksum(bytes + at);
            at += ogg_page_length(bytes + at);
        }
        expect_no_memory_kept(bytes, size, seeds[i]);
        free(bytes);
        /* the same file by path: libsndfile reckons a file's tags apart
         * from memory's (regress-id3-path-offset) */
        audio_pcm a;
        r1_error err;
        if (audio_load_file(path, RATE, &a, &err) == 0) audio_pcm_free(&a);
        size_t before = heap_in_use();
        for (int k = 0; k < 200; k++)
            if (audio_load_file(path, RATE, &a, &err) == 0) audio_pcm_free(&a);
        long grown = (long)heap_in_use() - (long)before;
        printf("%s by path: the heap grew by %ld bytes\n", seeds[i], grown);
        assert_true(grown < 64 * 1024);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_clips),     cmocka_unit_test(test_16k_is_exact),
        cmocka_unit_test(test_stereo_8k_float), cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_limits),          cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_sine_formats),    cmocka_unit_test(test_vorbis_chain),
        cmocka_unit_test(test_vorbis_damaged_headers), cmocka_unit_test(test_fuzz_findings),
        cmocka_unit_test(test_vorbis_codebook_limits), cmocka_unit_test(test_ogg_routing),
        cmocka_unit_test(test_tagged_and_trailing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
