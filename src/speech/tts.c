/*
 * tts.c - speech synthesis through the r1-tts-worker process (r1.h,
 * "speech synthesis").
 *
 * The worker is a child process joined by a socket pair (a socket, not a
 * pipe, so that writing to a dead worker is an error instead of SIGPIPE).
 * This file starts it, speaks its line protocol (src/tts_worker/
 * tts_worker.c), and supervises it: a worker that closes its end, says
 * something out of protocol or stays silent past the timeout is killed and
 * reaped, the request running fails with a message saying what happened,
 * and the next request starts a fresh one.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/helper_program.h"
#include "base/log.h"
#include "r1.h"
#include "speech/tts_text.h"
#include "speech/tts_voices.h"

#define WORKER_NAME "r1-tts-worker"
#define MAX_CHUNK_SAMPLES (1 << 20)

struct r1_tts {
    pthread_mutex_t lock;
    char worker_path[PATH_MAX];
    double timeout_seconds;
    pid_t pid; /* 0: no worker running */
    int fd;    /* our end of the socket pair */
    int sample_rate;
    /* what the worker sent and we have not read yet */
    char in[8192];
    size_t in_start, in_end;
    int16_t *samples; /* one chunk of audio */
    size_t samples_cap;
};

/* ---- starting and stopping the worker ---- */

static void stop_worker(r1_tts *t) {
    if (t->pid <= 0) return;
    kill(t->pid, SIGKILL);
    while (waitpid(t->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    close(t->fd);
    t->pid = 0;
    t->fd = -1;
    t->in_start = t->in_end = 0;
}

/* Reaps the worker after it closed its end; its wait status. */
static int reap_worker(r1_tts *t) {
    int status = 0;
    kill(t->pid, SIGKILL); /* in case it only closed its socket */
    while (waitpid(t->pid, &status, 0) < 0 && errno == EINTR) {
    }
    close(t->fd);
    t->pid = 0;
    t->fd = -1;
    t->in_start = t->in_end = 0;
    return status;
}

/* After the worker closed its end: reap it and say how it ended. */
static int worker_died(r1_tts *t, r1_error *err) {
    pid_t pid = t->pid;
    int status = reap_worker(t);
    if (WIFSIGNALED(status))
        r1_error_set(err, "the speech worker (pid %d) died of signal %d; it is restarted for the next request",
                     (int)pid, WTERMSIG(status));
    else
        r1_error_set(err, "the speech worker (pid %d) exited with status %d; it is restarted for the next request",
                     (int)pid, WEXITSTATUS(status));
    r1_log_warn("%s", err->message);
    return -1;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Fills the input buffer with what the worker sends next: 1 when bytes
 * came, 0 at end of stream, -1 on timeout (with err). */
static int receive_more(r1_tts *t, r1_error *err) {
    if (t->in_start > 0) {
        memmove(t->in, t->in + t->in_start, t->in_end - t->in_start);
        t->in_end -= t->in_start;
        t->in_start = 0;
    }
    if (t->in_end == sizeof t->in) return r1_error_set(err, "the speech worker sent a line too long"), -1;
    double deadline = now_seconds() + t->timeout_seconds;
    for (;;) {
        double left = deadline - now_seconds();
        if (left <= 0) return r1_error_set(err, "the speech worker was silent for %.0f s", t->timeout_seconds), -1;
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        int ready = poll(&p, 1, (int)(left * 1000) + 1);
        if (ready < 0 && errno != EINTR) return r1_error_set(err, "waiting for the speech worker: %s", strerror(errno)), -1;
        if (ready <= 0) continue;
        ssize_t n = recv(t->fd, t->in + t->in_end, sizeof t->in - t->in_end, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        t->in_end += (size_t)n;
        return 1;
    }
}

/* The next line (without \n) into line; 1, 0 at end of stream, -1. */
static int read_line(r1_tts *t, char *line, size_t cap, r1_error *err) {
    for (;;) {
        char *nl = memchr(t->in + t->in_start, '\n', t->in_end - t->in_start);
        if (nl) {
            size_t n = (size_t)(nl - (t->in + t->in_start));
            if (n >= cap) return r1_error_set(err, "the speech worker sent a line too long"), -1;
            memcpy(line, t->in + t->in_start, n);
            line[n] = '\0';
            t->in_start += n + 1;
            return 1;
        }
        int rc = receive_more(t, err);
        if (rc <= 0) return rc;
    }
}

/* Exactly n bytes into out; 1, 0 at end of stream, -1. */
static int read_bytes(r1_tts *t, void *out, size_t n, r1_error *err) {
    char *dst = out;
    while (n > 0) {
        if (t->in_start == t->in_end) {
            int rc = receive_more(t, err);
            if (rc <= 0) return rc;
        }
        size_t take = t->in_end - t->in_start < n ? t->in_end - t->in_start : n;
        memcpy(dst, t->in + t->in_start, take);
        t->in_start += take;
        dst += take;
        n -= take;
    }
    return 1;
}

static int start_worker(r1_tts *t, r1_error *err) {
    if (!helper_program_runnable(t->worker_path))
        return r1_error_set(err, "cannot start the speech worker %s: %s (build r1-tts-worker beside r1, or name it "
                                 "with --tts-worker or R1_TTS_WORKER)", t->worker_path, strerror(errno));
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return r1_error_set(err, "cannot make a socket pair for the speech worker: %s", strerror(errno));
    char *argv[] = {t->worker_path, NULL};
    pid_t pid;
    helper_streams streams = {.in = sv[1], .out = sv[1], .err = HELPER_SHARES_STDERR};
    int rc = helper_program_spawn(t->worker_path, argv, &streams, &pid);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        return r1_error_set(err, "cannot start the speech worker %s: %s (install it beside r1, or set R1_TTS_WORKER)",
                            t->worker_path, strerror(rc));
    }
    t->pid = pid;
    t->fd = sv[0];
    t->in_start = t->in_end = 0;
    char line[512];
    rc = read_line(t, line, sizeof line, err);
    if (rc == 0) {
        int status = reap_worker(t);
        return r1_error_set(err, "the speech worker %s did not start (%s %d; is it r1-tts-worker?)", t->worker_path,
                            WIFSIGNALED(status) ? "signal" : "exit status",
                            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
    if (rc < 0) {
        stop_worker(t);
        return -1;
    }
    int rate;
    if (sscanf(line, "ready %d", &rate) != 1 || rate < 1000 || rate > 192000) {
        r1_error_set(err, "the speech worker did not start: %s", strncmp(line, "error ", 6) ? line : line + 6);
        stop_worker(t);
        return -1;
    }
    t->sample_rate = rate;
    r1_log_debug("speech worker %s started (pid %d, %d Hz)", t->worker_path, (int)pid, rate);
    return 0;
}

/* ---- the API ---- */

int r1_tts_open(const r1_tts_params *params, r1_tts **out, r1_error *err) {
    *out = NULL;
    r1_tts *t = calloc(1, sizeof *t);
    if (!t) return r1_error_set(err, "out of memory");
    helper_program_find(WORKER_NAME, "R1_TTS_WORKER", params ? params->worker_path : NULL, t->worker_path,
                        sizeof t->worker_path);
    t->timeout_seconds = params && params->timeout_seconds > 0 ? params->timeout_seconds : 30;
    t->fd = -1;
    pthread_mutex_init(&t->lock, NULL);
    if (start_worker(t, err) != 0) { /* now, so that a missing worker or voice data is said at once */
        r1_tts_close(t);
        return -1;
    }
    *out = t;
    return 0;
}

void r1_tts_close(r1_tts *t) {
    if (!t) return;
    if (t->pid > 0) {
        close(t->fd); /* end of input: the worker exits by itself */
        t->fd = -1;
        int status;
        for (int i = 0; i < 100 && waitpid(t->pid, &status, WNOHANG) == 0; i++) usleep(10000);
        if (waitpid(t->pid, &status, WNOHANG) == 0) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, &status, 0);
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t->samples);
    free(t);
}

int r1_tts_sample_rate(const r1_tts *t) { return t->sample_rate; }

int r1_tts_worker_pid(r1_tts *t) {
    pthread_mutex_lock(&t->lock);
    int pid = (int)t->pid;
    pthread_mutex_unlock(&t->lock);
    return pid;
}

static int send_all(r1_tts *t, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t k = send(t->fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The audio of one chunk into t->samples. */
static int receive_chunk(r1_tts *t, long n, r1_error *err) {
    if (n <= 0 || n > MAX_CHUNK_SAMPLES) return r1_error_set(err, "the speech worker sent a chunk of %ld samples", n);
    if ((size_t)n > t->samples_cap) {
        int16_t *p = realloc(t->samples, (size_t)n * sizeof *p);
        if (!p) return r1_error_set(err, "out of memory");
        t->samples = p;
        t->samples_cap = (size_t)n;
    }
    int rc = read_bytes(t, t->samples, (size_t)n * sizeof(int16_t), err);
    return rc == 1 ? 0 : rc == 0 ? worker_died(t, err) : -1;
}

/* Speaks one normalised sentence; *stopped turns true when on_audio says
 * so (the rest of the sentence is then read and dropped, which keeps the
 * worker in step for the next request). */
static int speak_sentence(r1_tts *t, const char *text, const char *voice, int wpm, int pitch,
                          const r1_speak_options *o, bool *stopped, r1_error *err) {
    if (t->pid > 0 && waitpid(t->pid, NULL, WNOHANG) == t->pid) { /* it died while idle: a new one */
        r1_log_warn("the speech worker (pid %d) had died; starting a new one", (int)t->pid);
        close(t->fd);
        t->pid = 0;
        t->fd = -1;
    }
    if (t->pid == 0 && start_worker(t, err) != 0) return -1;
    char header[256];
    size_t len = strlen(text);
    int n = snprintf(header, sizeof header, "speak %s %d %d %zu\n", voice, wpm, pitch, len);
    if (send_all(t, header, (size_t)n) != 0 || send_all(t, text, len) != 0) return worker_died(t, err);
    for (;;) {
        char line[512];
        int rc = read_line(t, line, sizeof line, err);
        if (rc == 0) return worker_died(t, err);
        if (rc < 0) {
            stop_worker(t);
            return -1;
        }
        long count;
        if (sscanf(line, "audio %ld", &count) == 1) {
            if (receive_chunk(t, count, err) != 0) {
                if (t->pid) stop_worker(t);
                return -1;
            }
            if (!*stopped && o->on_audio && o->on_audio(o->user, t->samples, (size_t)count) != 0) *stopped = true;
        } else if (strcmp(line, "done") == 0) {
            return 0;
        } else if (strncmp(line, "error ", 6) == 0) {
            return r1_error_set(err, "speech synthesis: %s", line + 6);
        } else {
            r1_error_set(err, "the speech worker said something unexpected: %.80s", line);
            stop_worker(t);
            return -1;
        }
    }
}

int r1_tts_speak(r1_tts *t, const char *text, size_t len, const r1_speak_options *o, r1_error *err) {
    const tts_voice *voice = tts_voice_find(o->voice ? o->voice : "alloy");
    if (!voice) return r1_error_set(err, "unknown voice '%s'", o->voice);
    float speed = o->speed > 0 ? o->speed : 1.0f;
    if (!(speed >= 0.25f && speed <= 4.0f)) return r1_error_set(err, "speed must be in 0.25..4");
    long wpm = lroundf(175.0f * speed);
    wpm = wpm < 80 ? 80 : wpm > 450 ? 450 : wpm; /* what espeak-ng can do */
    pthread_mutex_lock(&t->lock);
    int rc = 0;
    bool stopped = false;
    for (size_t pos = 0; pos < len && rc == 0 && !stopped;) {
        size_t end = tts_sentence_end(text + pos, len - pos, true);
        bool mandarin;
        char *spoken = tts_normalize(text + pos, end, &mandarin);
        pos += end > 0 ? end : len - pos;
        if (!spoken) {
            rc = r1_error_set(err, "out of memory");
            break;
        }
        if (spoken[0]) {
            if (o->on_sentence) o->on_sentence(o->user, spoken, mandarin);
            rc = speak_sentence(t, spoken, mandarin ? voice->mandarin : voice->english, (int)wpm, voice->pitch, o,
                                &stopped, err);
        }
        free(spoken);
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}
