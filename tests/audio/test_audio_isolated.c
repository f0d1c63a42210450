/* test_audio_isolated.c - uploads decoded by r1-audio-decoder in a child
 * process (src/audio/audio_isolated.c): the same samples as decoding in
 * this process, the same refusals, the child confined as it says, and
 * every way a child can go wrong (played by small shell scripts standing in
 * for it) ends in one clear message with no process left behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audio/audio_decoder_reply.h"
#include "audio/audio_file.h"
#include "base/sanitizer.h"
#include "audio/audio_isolated.h"
#include "base/helper_program.h"
#include "testutil.h"

#define RATE 16000
#define DECODER R1_BINARY_DIR "/r1-audio-decoder"

static char script_dir[] = "/tmp/r1-test-decoder-XXXXXX";

static int setup(void **state) {
    (void)state;
    return mkdtemp(script_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char command[256];
    snprintf(command, sizeof command, "rm -rf '%s'", script_dir);
    return system(command) == 0 ? 0 : -1;
}

/* No child of this test is left running or unreaped. */
static void assert_no_children(void) {
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* A stand-in decoder: a shell script with body, executable. */
static const char *fake_decoder(const char *name, const char *body) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", script_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
    return path;
}

static void *read_clip(const char *name, size_t *size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_testdata_path("asr/audio"), name);
    void *bytes = test_read_file(path, size);
    if (!bytes) fail_msg("cannot read %s", path);
    return bytes;
}

/* audio_load_memory_isolated with r1's log (this process's standard
 * error) caught: the log's text, malloc'd. */
static char *decode_catching_log(const audio_isolation *iso, const void *bytes, size_t size, int *rc, r1_error *err) {
    char log_path[512];
    snprintf(log_path, sizeof log_path, "%s/log", script_dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *log = fopen(log_path, "w+");
    assert_non_null(log);
    dup2(fileno(log), STDERR_FILENO);
    audio_pcm pcm;
    *rc = audio_load_memory_isolated(iso, bytes, size, RATE, 60, &pcm, err);
    audio_pcm_free(&pcm);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    fclose(log);
    char *text = test_read_file(log_path, NULL);
    assert_non_null(text);
    return text;
}

/* Decodes bytes both ways and requires the very same result. */
static void assert_same_both_ways(const char *what, const void *bytes, size_t size) {
    audio_pcm here, there;
    r1_error err_here = {{0}}, err_there = {{0}};
    int rc_here = audio_load_memory(bytes, size, RATE, &here, &err_here);
    audio_isolation iso = {.decoder_path = DECODER};
    int rc_there = audio_load_memory_isolated(&iso, bytes, size, RATE, AUDIO_MAX_SECONDS, &there, &err_there);
    if (rc_here != 0) {
        if (rc_there != AUDIO_ISOLATED_BAD_AUDIO) fail_msg("%s: refused here (%s), not there", what, err_here.message);
        if (strcmp(err_here.message, err_there.message) != 0)
            fail_msg("%s: refused here with \"%s\", there with \"%s\"", what, err_here.message, err_there.message);
        return;
    }
    if (rc_there != 0) fail_msg("%s: decoded here, not there: %s", what, err_there.message);
    assert_int_equal(here.n_samples, there.n_samples);
    assert_int_equal(here.sample_rate, there.sample_rate);
    assert_int_equal(here.source_rate, there.source_rate);
    assert_int_equal(here.source_channels, there.source_channels);
    assert_true(here.seconds == there.seconds);
    if (memcmp(here.samples, there.samples, (size_t)here.n_samples * sizeof(float)) != 0)
        fail_msg("%s: the samples differ", what);
    audio_pcm_free(&here);
    audio_pcm_free(&there);
}

/* The reference clips, and a stereo 48 kHz tone in every format
 * libsndfile writes here, decode to the same samples in the child. */
static void test_same_samples(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    const char *clips[] = {"jfk.wav", "stereo_8k_float.wav", "zh_weather.wav", "bad_not_audio.wav",
                           "bad_truncated_header.wav"};
    for (size_t c = 0; c < sizeof clips / sizeof clips[0]; c++) {
        size_t size;
        void *bytes = read_clip(clips[c], &size);
        assert_same_both_ways(clips[c], bytes, size);
        free(bytes);
    }
    static const struct {
        const char *ext;
        int format;
    } formats[] = {{"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},  {"ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS},
                   {"opus", SF_FORMAT_OGG | SF_FORMAT_OPUS},     {"mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III},
                   {"aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_24}};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tone.%s", script_dir, formats[f].ext);
        SF_INFO info = {.samplerate = 48000, .channels = 2, .format = formats[f].format};
        SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
        if (!sf) fail_msg("libsndfile cannot write %s here", formats[f].ext);
        static float frames[48000 * 2];
        for (int i = 0; i < 48000; i++) frames[2 * i] = frames[2 * i + 1] = (float)(0.5 * sin(2 * M_PI * 440 * i / 48000.0));
        assert_int_equal(sf_writef_float(sf, frames, 48000), 48000);
        assert_int_equal(sf_close(sf), 0);
        size_t size;
        void *bytes = test_read_file(path, &size);
        assert_non_null(bytes);
        assert_same_both_ways(formats[f].ext, bytes, size);
        free(bytes);
    }
    const char junk[] = "this is not audio at all, just words";
    assert_same_both_ways("text", junk, sizeof junk);
    assert_no_children();
}

/* The child limits itself before reading a byte: its limits and its
 * system-call filter as the kernel shows them while it waits for input. */
static void test_confinement(void **state) {
    (void)state;
    int in[2], out[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    char *argv[] = {DECODER, AUDIO_DECODER_PROTOCOL, "16000", "60", "300000000", "7", NULL};
    pid_t pid;
    helper_streams streams = {.in = in[0], .out = out[1], .err = HELPER_SHARES_STDERR};
    assert_int_equal(helper_program_spawn(DECODER, argv, &streams, &pid), 0);
    close(in[0]);
    close(out[1]);
    char path[64], limits[8192] = "";
    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    for (int tries = 0; tries < 3000 && !strstr(limits, "Max open files            3"); tries++) {
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(limits, 1, sizeof limits - 1, f) : 0;
        limits[n] = '\0';
        if (f) fclose(f);
    }
    if (!strstr(limits, "Max open files            3                    3"))
        fail_msg("no limit on open files:\n%s", limits);
    assert_non_null(strstr(limits, "Max cpu time              7                    8"));
    assert_non_null(strstr(limits, "Max core file size        0                    0"));
    assert_non_null(strstr(limits, "Max file size             0                    0"));
#ifndef R1_UNDER_SANITIZER
    assert_non_null(strstr(limits, "Max address space         300000000            300000000"));
#endif
    char status_path[64], status[4096] = "";
    snprintf(status_path, sizeof status_path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(status_path, "r");
    assert_non_null(f);
    status[fread(status, 1, sizeof status - 1, f)] = '\0';
    fclose(f);
    assert_non_null(strstr(status, "NoNewPrivs:\t1"));
#ifndef R1_UNDER_SANITIZER
    assert_non_null(strstr(status, "Seccomp:\t2")); /* a filter */
#endif
    close(in[1]); /* an empty input: refused, and it exits */
    close(out[0]);
    int wstatus;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    assert_no_children();
}

#ifndef R1_UNDER_SANITIZER
/* The address-space limit holds: an upload larger than it cannot even be
 * mapped (the default limit is always larger than the upload). */
static void test_memory_limit(void **state) {
    (void)state;
    size_t size = 64u << 20;
    unsigned char *bytes = calloc(1, size);
    assert_non_null(bytes);
    memcpy(bytes, "RIFF", 4);
    audio_isolation iso = {.decoder_path = DECODER, .memory_bytes = 48u << 20};
    r1_error err = {{0}};
    int rc;
    char *log = decode_catching_log(&iso, bytes, size, &rc, &err);
    assert_int_equal(rc, AUDIO_ISOLATED_FAILED);
    if (!strstr(err.message, "the server could not decode the upload (its log says why)")) fail_msg("%s", err.message);
    if (!strstr(log, "cannot map the input: Cannot allocate memory")) fail_msg("the log: %s", log);
    free(log);
    free(bytes);
    assert_no_children();
}
#endif

typedef struct misbehaviour {
    const char *name, *script;
    double cpu_seconds; /* the CPU time it may use before any audio */
    int rc;
    const char *message; /* a part of err */
} misbehaviour;

/* Whether a process runs `sleep 300.4242` (what the stand-in that starts a
 * child leaves behind, unless its process group is killed). */
static bool marked_sleep_runs(void) {
    DIR *proc = opendir("/proc");
    assert_non_null(proc);
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(proc));) {
        char path[300], line[64] = "";
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        found = n == sizeof "sleep\0300.4242" && memcmp(line, "sleep\0300.4242", n) == 0;
    }
    closedir(proc);
    return found;
}

/* Stand-ins that crash, spin, hang, linger, talk nonsense or too much. The
 * wall clock allows 1 s plus twice the CPU time (30 s for the one that
 * spins: its CPU time is what is watched, on a machine perhaps busy with
 * other tests). */
static void test_misbehaving_decoders(void **state) {
    (void)state;
    static const misbehaviour cases[] = {
        {"crash", "kill -SEGV $$", 30, AUDIO_ISOLATED_BAD_AUDIO, "ended on signal 11"},
        {"abort", "kill -ABRT $$", 30, AUDIO_ISOLATED_BAD_AUDIO, "ended on signal 6"},
        {"spins", "while :; do :; done", 0.5, AUDIO_ISOLATED_BAD_AUDIO,
         "used more than 0.5 s of CPU time for 0 s of audio, the limit"},
        {"the-refusal-says-0", "printf 'X\\002\\000\\000\\000no'; exit 0", 30, AUDIO_ISOLATED_BAD_AUDIO, "no"},
        {"over-its-rlimit", "ulimit -S -t 1; while :; do :; done", 30, AUDIO_ISOLATED_BAD_AUDIO,
         "s of CPU time, the limit"},
        {"hangs", "exec sleep 30", 0.5, AUDIO_ISOLATED_BAD_AUDIO, "took longer than 2.0 s for 0 s of audio, the limit"},
        {"closes-and-lingers", "exec >&-; exec sleep 30", 0.5, AUDIO_ISOLATED_BAD_AUDIO,
         "did not exit after its output ended"},
        /* its child keeps the output open: the time runs out, and the
         * whole process group is killed */
        {"starts-a-child", "sleep 300.4242 & exit 0", 0.5, AUDIO_ISOLATED_BAD_AUDIO, "took longer than 2.0 s"},
        {"unknown-record", "printf 'Zjunk'", 30, AUDIO_ISOLATED_BAD_AUDIO, "unknown kind 0x5a"},
        {"cut-short", "printf 'S\\004\\000\\000\\000\\000\\000'", 30, AUDIO_ISOLATED_BAD_AUDIO,
         "before its end record"},
        {"nothing", "exit 0", 30, AUDIO_ISOLATED_BAD_AUDIO, "before its end record"},
        {"too-many-samples", "printf 'S\\000\\000\\020\\000'; head -c 1048576 /dev/zero", 30,
         AUDIO_ISOLATED_BAD_AUDIO, "more than 17600 samples, the limit"},
        {"after-the-end", "printf 'X\\002\\000\\000\\000noS'; exit 1", 30, AUDIO_ISOLATED_BAD_AUDIO,
         "bytes after its last record"},
        {"refuses", "printf 'X\\016\\000\\000\\000upload: no\\033\\n!!'; exit 1", 30, AUDIO_ISOLATED_BAD_AUDIO,
         "upload: no?" "?!!"},
        {"cannot-start", "printf 'X\\005\\000\\000\\000hello'; exit 3", 30, AUDIO_ISOLATED_FAILED,
         "the server could not decode the upload (its log says why)"},
        {"another-protocol", "exit 2", 30, AUDIO_ISOLATED_FAILED, "the server could not decode the upload (its log says why)"},
    };
    char upload[] = "RIFF....WAVE";
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        audio_isolation iso = {.decoder_path = fake_decoder(cases[c].name, cases[c].script),
                               .cpu_seconds = cases[c].cpu_seconds,
                               .wall_seconds = strcmp(cases[c].name, "spins") == 0 ? 30 : 1};
        audio_pcm pcm;
        r1_error err = {{0}};
        int rc = audio_load_memory_isolated(&iso, upload, sizeof upload, RATE, 0.1, &pcm, &err);
        if (rc != cases[c].rc || !strstr(err.message, cases[c].message))
            fail_msg("%s: rc %d, \"%s\" (expected %d, \"%s\")", cases[c].name, rc, err.message, cases[c].rc,
                     cases[c].message);
        assert_null(pcm.samples);
        assert_no_children();
    }
    /* what the stand-in that started a child left behind: nothing (its
     * process group was killed) */
    assert_false(marked_sleep_runs());
    audio_isolation missing = {.decoder_path = "/nonexistent/r1-audio-decoder"};
    audio_pcm pcm;
    r1_error err = {{0}};
    assert_int_equal(audio_load_memory_isolated(&missing, upload, sizeof upload, RATE, 1, &pcm, &err),
                     AUDIO_ISOLATED_FAILED);
    assert_non_null(strstr(err.message, "the server could not decode the upload (its log says why)"));
}

/* What the child writes on its standard error reaches r1's log as one
 * line of printable text: it cannot forge lines of its own. */
static void test_stderr_logged_as_one_line(void **state) {
    (void)state;
    const char *path = fake_decoder("forger", "printf 'oops\\n2026-12-02T00:00:00Z info  forged\\033[0m\\n' >&2; "
                                              "head -c 5000 /dev/zero | tr '\\000' a >&2; "
                                              "printf 'X\\002\\000\\000\\000no'; exit 1");
    audio_isolation iso = {.decoder_path = path};
    r1_error err = {{0}};
    int rc;
    char *text = decode_catching_log(&iso, "RIFF", 4, &rc, &err);
    assert_int_equal(rc, AUDIO_ISOLATED_BAD_AUDIO);
    size_t size = strlen(text);
    if (!strstr(text, "wrote on its standard error: oops|2026-12-02T00:00:00Z info  forged?[0m|aaaa"))
        fail_msg("the log: %s", text);
    /* the first 1024 bytes are kept, and it says the rest was cut */
    const char *kept = strstr(text, "standard error: ") + strlen("standard error: ");
    assert_int_equal(strstr(kept, " (cut)\n") - kept, 1024);
    if (strchr(text, '\n') - text + 1 != (long)size) fail_msg("more than one line: %s", text);
    free(text);
}

/* A child that closes its standard error early costs r1 nothing while it
 * works on (the closed pipe once woke r1's wait for ever): r1's CPU time
 * over the child's second of sleep stays far below that second. */
static void test_stderr_closed_early(void **state) {
    (void)state;
    audio_isolation iso = {.decoder_path = fake_decoder("closes-stderr", "exec 2>&-; sleep 1; "
                                                                         "printf 'X\\002\\000\\000\\000no'; exit 1")};
    struct timespec cpu0, cpu1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
    audio_pcm pcm;
    r1_error err = {{0}};
    assert_int_equal(audio_load_memory_isolated(&iso, "RIFF", 4, RATE, 1, &pcm, &err), AUDIO_ISOLATED_BAD_AUDIO);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
    assert_string_equal(err.message, "no");
    double used = (double)(cpu1.tv_sec - cpu0.tv_sec) + (cpu1.tv_nsec - cpu0.tv_nsec) * 1e-9;
    if (used > 0.5) fail_msg("r1 used %.2f s of CPU waiting for a child that slept 1 s", used);
    assert_no_children();
}

/* CPU time is earned by audio: a stand-in that sends 10 s of samples,
 * then spins, is stopped at 0.5 + 0.1 x 10 s of CPU. */
static void test_cpu_earned_by_audio(void **state) {
    (void)state;
    /* one 'S' record of 160000 samples (640000 bytes: 00 c4 09 00) */
    audio_isolation iso = {.decoder_path = fake_decoder("earns-then-spins", "printf 'S\\000\\304\\011\\000'; "
                                                                          "head -c 640000 /dev/zero; while :; do :; done"),
                           .cpu_seconds = 0.5,
                           .cpu_per_audio_second = 0.1,
                           .wall_seconds = 60};
    audio_pcm pcm;
    r1_error err = {{0}};
    assert_int_equal(audio_load_memory_isolated(&iso, "RIFF", 4, RATE, 60, &pcm, &err), AUDIO_ISOLATED_BAD_AUDIO);
    assert_string_equal(err.message, "upload: decoding used more than 1.5 s of CPU time for 10 s of audio, the limit");
    assert_no_children();
}

/* The real decoder refuses arguments of another protocol version (a
 * half-done upgrade), with exit status 2, and r1 takes that for its own
 * failure. */
static void test_other_protocol_refused(void **state) {
    (void)state;
    char *argv[] = {DECODER, "0", "16000", "60", "300000000", "7", NULL};
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC), out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int err = open("/dev/null", O_WRONLY | O_CLOEXEC);
    helper_streams streams = {.in = in, .out = out, .err = err};
    pid_t pid;
    assert_int_equal(helper_program_spawn(DECODER, argv, &streams, &pid), 0);
    close(in), close(out), close(err);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), AUDIO_DECODER_USAGE);
}

static bool stop_now(void *user) {
    (*(int *)user)++;
    return true;
}

/* A caller that gives up (the client left) has the child killed. */
static void test_caller_stops(void **state) {
    (void)state;
    int asked = 0;
    audio_isolation iso = {.decoder_path = fake_decoder("slow", "exec sleep 30"), .should_stop = stop_now, .user = &asked};
    char upload[] = "RIFF....WAVE";
    audio_pcm pcm;
    r1_error err = {{0}};
    assert_int_equal(audio_load_memory_isolated(&iso, upload, sizeof upload, RATE, 1, &pcm, &err),
                     AUDIO_ISOLATED_STOPPED);
    assert_int_equal(asked, 1);
    assert_no_children();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_samples),
        cmocka_unit_test(test_confinement),
#ifndef R1_UNDER_SANITIZER
        cmocka_unit_test(test_memory_limit),
#endif
        cmocka_unit_test(test_misbehaving_decoders),
        cmocka_unit_test(test_stderr_logged_as_one_line),
        cmocka_unit_test(test_stderr_closed_early),
        cmocka_unit_test(test_cpu_earned_by_audio),
        cmocka_unit_test(test_other_protocol_refused),
        cmocka_unit_test(test_caller_stops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
