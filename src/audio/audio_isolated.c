/*
 * audio_isolated.c - uploads decoded by r1-audio-decoder in a child process
 * (see audio_isolated.h): the upload goes to the child as a memory file on
 * its standard input, the samples come back through a pipe as the child
 * decodes them, and the child is waited for, killed when it runs past its
 * time or the caller gives up, and its end explained.
 */
#include "audio/audio_isolated.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audio/audio_decoder_reply.h"
#include "base/helper_program.h"
#include "base/log.h"

/* How the child ended, as its exit status says (audio_decoder.c). */
enum { DECODER_DECODED = 0, DECODER_REFUSED = 1, DECODER_USAGE = 2, DECODER_CANNOT_START = 3 };

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The limits of this upload's decoder, the caller's or the defaults. */
static audio_isolation with_defaults(const audio_isolation *iso, size_t size) {
    audio_isolation l = *iso;
    double mb = (double)size / (1 << 20);
    if (l.memory_bytes == 0) l.memory_bytes = AUDIO_ISOLATED_BASE_MEMORY + 2 * size;
    if (l.cpu_seconds <= 0) l.cpu_seconds = AUDIO_ISOLATED_BASE_CPU_SECONDS + AUDIO_ISOLATED_CPU_SECONDS_PER_MB * mb;
    if (l.wall_seconds <= 0) l.wall_seconds = 2 * l.cpu_seconds + 10;
    return l;
}

/* A memory file holding the upload: the child maps it, so nothing has to
 * be pumped through a pipe while the output is read from another. */
static int upload_as_memory_file(const void *data, size_t size, r1_error *err) {
    int fd = memfd_create("r1-upload", MFD_CLOEXEC);
    if (fd < 0) return r1_error_set(err, "cannot make a memory file for the upload: %s", strerror(errno));
    const unsigned char *p = data;
    for (size_t left = size; left > 0;) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            r1_error_set(err, "cannot write the upload to a memory file: %s", strerror(errno));
            close(fd);
            return -1;
        }
        p += w, left -= (size_t)w;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        r1_error_set(err, "cannot rewind the upload's memory file: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

typedef struct child {
    pid_t pid;
    int out; /* the read end of its standard output */
} child;

static int start_decoder(const audio_isolation *l, const void *data, size_t size, int target_rate, double max_seconds,
                         child *c, r1_error *err) {
    if (!helper_program_runnable(l->decoder_path))
        return r1_error_set(err, "cannot start the audio decoder %s: %s", l->decoder_path, strerror(errno));
    int in = upload_as_memory_file(data, size, err);
    if (in < 0) return -1;
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        close(in);
        return r1_error_set(err, "cannot make a pipe for the audio decoder: %s", strerror(errno));
    }
    char rate[32], seconds[32], memory[32], cpu[32];
    snprintf(rate, sizeof rate, "%d", target_rate);
    snprintf(seconds, sizeof seconds, "%.17g", max_seconds);
    snprintf(memory, sizeof memory, "%zu", l->memory_bytes);
    snprintf(cpu, sizeof cpu, "%.0f", ceil(l->cpu_seconds));
    char *argv[] = {(char *)l->decoder_path, rate, seconds, memory, cpu, NULL};
    int rc = helper_program_spawn(l->decoder_path, argv, in, pipe_fds[1], &c->pid);
    close(in);
    close(pipe_fds[1]);
    if (rc != 0) {
        close(pipe_fds[0]);
        return r1_error_set(err, "cannot start the audio decoder %s: %s", l->decoder_path, strerror(rc));
    }
    c->out = pipe_fds[0];
    return 0;
}

/* Reaps the child; one that closed its output but goes on running past
 * the deadline is killed first. */
static int wait_for(pid_t pid, double deadline) {
    int status = 0;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid || (got < 0 && errno != EINTR)) return status;
        if (now_seconds() > deadline) break;
        nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

/* Reads the child's output into r until it closes it, or until deadline
 * (the wall-clock limit). 0, or one of
 * AUDIO_ISOLATED_* with err (the child is then still to be killed). */
static int read_output(const audio_isolation *l, child *c, double deadline, audio_reply *r, r1_error *err) {
    enum { BUFFER_BYTES = 1 << 16 };
    unsigned char *buffer = malloc(BUFFER_BYTES);
    if (!buffer) return r1_error_set(err, "out of memory"), AUDIO_ISOLATED_FAILED;
    int rc = 0;
    for (;;) {
        if (l->should_stop && l->should_stop(l->user)) {
            rc = AUDIO_ISOLATED_STOPPED;
            r1_error_set(err, "upload: decoding stopped");
            break;
        }
        if (now_seconds() > deadline) {
            rc = AUDIO_ISOLATED_BAD_AUDIO;
            r1_error_set(err, "upload: decoding took longer than %.0f s, the limit", l->wall_seconds);
            break;
        }
        struct pollfd p = {.fd = c->out, .events = POLLIN};
        int ready = poll(&p, 1, 200);
        if (ready < 0 && errno != EINTR) {
            rc = AUDIO_ISOLATED_FAILED;
            r1_error_set(err, "waiting for the audio decoder: %s", strerror(errno));
            break;
        }
        if (ready <= 0) continue;
        ssize_t n = read(c->out, buffer, BUFFER_BYTES);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) break;
        if (n < 0) {
            rc = AUDIO_ISOLATED_FAILED;
            r1_error_set(err, "reading from the audio decoder: %s", strerror(errno));
            break;
        }
        if (audio_reply_feed(r, buffer, (size_t)n, err) != 0) {
            rc = AUDIO_ISOLATED_BAD_AUDIO;
            r1_error_prefix(err, "upload");
            r1_log_warn("pid %d: %s", (int)c->pid, err->message);
            break;
        }
    }
    free(buffer);
    return rc;
}

/* The child ended on a signal: say why, in words a client can act on. */
static int explain_signal(const audio_isolation *l, pid_t pid, int signal_number, r1_error *err) {
    if (signal_number == SIGXCPU)
        r1_error_set(err, "upload: decoding took more than %.0f s of CPU time, the limit", ceil(l->cpu_seconds));
    else
        r1_error_set(err, "upload: the audio decoder failed on this input (it ended on signal %d, %s)", signal_number,
                     strsignal(signal_number));
    r1_log_warn("the audio decoder (pid %d) ended on signal %d (%s); the request fails, nothing else is affected",
                (int)pid, signal_number, strsignal(signal_number));
    return AUDIO_ISOLATED_BAD_AUDIO;
}

/* The child closed its output and was reaped with status: its verdict. */
static int conclude(const audio_isolation *l, pid_t pid, int status, audio_reply *r, audio_pcm *out, r1_error *err) {
    if (WIFSIGNALED(status)) return explain_signal(l, pid, WTERMSIG(status), err);
    int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r1_error why;
    int verdict = audio_reply_finish(r, out, &why);
    if (verdict == 0 && exit_code == DECODER_DECODED) return 0;
    audio_pcm_free(out);
    if (verdict == 1 && exit_code == DECODER_REFUSED) {
        r1_error_set(err, "%s", r->message);
        return AUDIO_ISOLATED_BAD_AUDIO;
    }
    if (verdict == 1 && exit_code == DECODER_CANNOT_START) {
        r1_error_set(err, "the audio decoder %s could not start: %s", l->decoder_path, r->message);
        return AUDIO_ISOLATED_FAILED;
    }
    if (verdict < 0) r1_error_set(err, "upload: %s (it exited with status %d)", why.message, exit_code);
    else r1_error_set(err, "upload: the audio decoder exited with status %d (is %s r1-audio-decoder?)", exit_code,
                      l->decoder_path);
    r1_log_warn("pid %d: %s", (int)pid, err->message);
    return exit_code == DECODER_USAGE || exit_code == DECODER_CANNOT_START || exit_code == 127 ? AUDIO_ISOLATED_FAILED
                                                                                             : AUDIO_ISOLATED_BAD_AUDIO;
}

int audio_load_memory_isolated(const audio_isolation *iso, const void *data, size_t size, int target_rate,
                               double max_seconds, audio_pcm *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    if (size == 0) return r1_error_set(err, "upload: empty input"), AUDIO_ISOLATED_BAD_AUDIO;
    if (target_rate < AUDIO_MIN_RATE || target_rate > AUDIO_MAX_RATE || !(max_seconds > 0.0))
        return r1_error_set(err, "audio decoding asked for %d Hz and %g s", target_rate, max_seconds),
               AUDIO_ISOLATED_FAILED;
    audio_isolation l = with_defaults(iso, size);
    child c;
    if (start_decoder(&l, data, size, target_rate, max_seconds, &c, err) != 0) return AUDIO_ISOLATED_FAILED;
    audio_reply reply;
    double most = ceil(max_seconds * target_rate) + target_rate; /* the resampler's tail */
    audio_reply_init(&reply, target_rate, most < 1e15 ? (long)most : (long)1e15);
    double deadline = now_seconds() + l.wall_seconds;
    int rc = read_output(&l, &c, deadline, &reply, err);
    if (rc != 0) kill(c.pid, SIGKILL);
    close(c.out);
    int status = wait_for(c.pid, deadline);
    if (rc == 0) rc = conclude(&l, c.pid, status, &reply, out, err);
    audio_reply_free(&reply);
    return rc;
}
