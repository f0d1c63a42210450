/*
 * audio_isolated.c - uploads decoded by r1-audio-decoder in a child process
 * (see audio_isolated.h): the upload goes to the child as a memory file on
 * its standard input, the samples come back through a pipe as the child
 * decodes them, its standard error through another (logged, never mixed
 * into r1's log as it is), and the child is watched (CPU time and wall
 * clock against the audio it has sent, the caller giving up), killed with
 * whatever it started when it goes too far, reaped, and its end explained.
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

/* What the child wrote on its standard error that is kept for the log. */
#define MAX_STDERR_BYTES 2048

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The limits of this upload's decoder, the caller's or the defaults. */
static audio_isolation with_defaults(const audio_isolation *iso, size_t size) {
    audio_isolation l = *iso;
    if (l.memory_bytes == 0) l.memory_bytes = AUDIO_ISOLATED_BASE_MEMORY + 2 * size;
    if (l.cpu_seconds <= 0) l.cpu_seconds = AUDIO_ISOLATED_CPU_SECONDS;
    if (l.cpu_per_audio_second <= 0) l.cpu_per_audio_second = AUDIO_ISOLATED_CPU_PER_AUDIO_SECOND;
    if (l.wall_seconds <= 0) l.wall_seconds = AUDIO_ISOLATED_WALL_SECONDS;
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
            r1_error_set(err, "cannot write the upload to a memory file: %s", w < 0 ? strerror(errno) : "no space");
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

/* One running decoder and what r1 knows of it. */
typedef struct child {
    pid_t pid;
    int out, err;   /* the read ends of its standard output and error */
    double started; /* now_seconds() */
    char stderr_text[MAX_STDERR_BYTES + 1];
    size_t stderr_bytes;
} child;

static int start_decoder(const audio_isolation *l, const void *data, size_t size, int target_rate, double max_seconds,
                         child *c, r1_error *err) {
    if (!helper_program_runnable(l->decoder_path))
        return r1_error_set(err, "cannot start the audio decoder %s: %s", l->decoder_path, strerror(errno));
    int in = upload_as_memory_file(data, size, err);
    if (in < 0) return -1;
    int out[2], errors[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in);
        return r1_error_set(err, "cannot make a pipe for the audio decoder: %s", strerror(errno));
    }
    if (pipe2(errors, O_CLOEXEC | O_NONBLOCK) != 0) {
        close(in), close(out[0]), close(out[1]);
        return r1_error_set(err, "cannot make a pipe for the audio decoder: %s", strerror(errno));
    }
    /* the kernel's cap: what the longest audio allowed would earn */
    double most_cpu = l->cpu_seconds + l->cpu_per_audio_second * max_seconds;
    char rate[32], seconds[32], memory[32], cpu[32];
    snprintf(rate, sizeof rate, "%d", target_rate);
    snprintf(seconds, sizeof seconds, "%.17g", max_seconds);
    snprintf(memory, sizeof memory, "%zu", l->memory_bytes);
    snprintf(cpu, sizeof cpu, "%.0f", ceil(most_cpu < 1e7 ? most_cpu : 1e7));
    char *argv[] = {(char *)l->decoder_path, AUDIO_DECODER_PROTOCOL, rate, seconds, memory, cpu, NULL};
    helper_streams streams = {.in = in, .out = out[1], .err = errors[1], .own_process_group = true};
    int rc = helper_program_spawn(l->decoder_path, argv, &streams, &c->pid);
    close(in), close(out[1]), close(errors[1]);
    if (rc != 0) {
        close(out[0]), close(errors[0]);
        return r1_error_set(err, "cannot start the audio decoder %s: %s", l->decoder_path, strerror(rc));
    }
    c->out = out[0];
    c->err = errors[0];
    c->started = now_seconds();
    c->stderr_bytes = 0;
    return 0;
}

/* Ends the child and anything it started (its own process group). */
static void kill_decoder(const child *c) {
    kill(-c->pid, SIGKILL);
    kill(c->pid, SIGKILL);
}

/* Keeps the start of what the child writes on its standard error. */
static void read_stderr(child *c) {
    char scratch[4096];
    for (;;) {
        ssize_t n = read(c->err, scratch, sizeof scratch);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; /* nothing more now (the pipe does not block), or its end */
        size_t keep = MAX_STDERR_BYTES - c->stderr_bytes;
        if ((size_t)n < keep) keep = (size_t)n;
        memcpy(c->stderr_text + c->stderr_bytes, scratch, keep);
        c->stderr_bytes += keep;
    }
}

/* The child's standard error in r1's log, as one line of printable text
 * (a subverted decoder must not forge log lines of its own). */
static void log_stderr(child *c) {
    read_stderr(c);
    if (c->stderr_bytes == 0) return;
    for (size_t i = 0; i < c->stderr_bytes; i++) {
        unsigned char ch = (unsigned char)c->stderr_text[i];
        if (ch < 0x20 || ch >= 0x7f) c->stderr_text[i] = ch == '\n' ? '|' : '?';
    }
    c->stderr_text[c->stderr_bytes] = '\0';
    r1_log_warn("the audio decoder (pid %d) wrote on its standard error: %s", (int)c->pid, c->stderr_text);
}

/* CPU time the child has used, from /proc/PID/stat (user and system
 * ticks, fields 14 and 15, counted after the command's closing
 * parenthesis); -1 when it cannot be read. */
static double cpu_seconds_used(pid_t pid) {
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *after = strrchr(text, ')');
    unsigned long long user, system;
    if (!after || sscanf(after + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &user, &system) != 2)
        return -1;
    return (double)(user + system) / (double)sysconf(_SC_CLK_TCK);
}

/* Whether the child has gone past what the audio it sent so far allows;
 * err says which limit. */
static bool over_its_time(const audio_isolation *l, const child *c, const audio_reply *r, r1_error *err) {
    double audio = (double)(r->sample_bytes / sizeof(float)) / r->sample_rate;
    double cpu_allowed = l->cpu_seconds + l->cpu_per_audio_second * audio;
    double cpu = cpu_seconds_used(c->pid);
    if (cpu > cpu_allowed) {
        r1_error_set(err, "upload: decoding used more than %.3g s of CPU time for %.0f s of audio, the limit",
                     cpu_allowed, audio);
        return true;
    }
    double wall_allowed = l->wall_seconds + 2 * cpu_allowed;
    if (now_seconds() - c->started > wall_allowed) {
        r1_error_set(err, "upload: decoding took longer than %.3g s for %.0f s of audio, the limit", wall_allowed,
                     audio);
        return true;
    }
    return false;
}

/* Reads the child's output into r until it closes it. 0, or one of
 * AUDIO_ISOLATED_* with err (the child is then still to be killed). */
static int read_output(const audio_isolation *l, child *c, audio_reply *r, r1_error *err) {
    enum { BUFFER_BYTES = 1 << 16 };
    unsigned char *buffer = malloc(BUFFER_BYTES);
    if (!buffer) {
        r1_error_set(err, "out of memory");
        return AUDIO_ISOLATED_FAILED;
    }
    int rc = 0;
    while (rc == 0) {
        if (l->should_stop && l->should_stop(l->user)) {
            r1_error_set(err, "upload: decoding stopped");
            rc = AUDIO_ISOLATED_STOPPED;
            break;
        }
        if (over_its_time(l, c, r, err)) {
            rc = AUDIO_ISOLATED_BAD_AUDIO;
            break;
        }
        struct pollfd p[2] = {{.fd = c->out, .events = POLLIN}, {.fd = c->err, .events = POLLIN}};
        int ready = poll(p, 2, 200);
        if (ready < 0 && errno != EINTR) {
            r1_error_set(err, "waiting for the audio decoder: %s", strerror(errno));
            rc = AUDIO_ISOLATED_FAILED;
        }
        if (ready <= 0) continue;
        if (p[1].revents) read_stderr(c);
        if (!p[0].revents) continue;
        ssize_t n = read(c->out, buffer, BUFFER_BYTES);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) break;
        if (n < 0) {
            r1_error_set(err, "reading from the audio decoder: %s", strerror(errno));
            rc = AUDIO_ISOLATED_FAILED;
        } else if (audio_reply_feed(r, buffer, (size_t)n, err) != 0) {
            rc = r->out_of_memory ? AUDIO_ISOLATED_FAILED : AUDIO_ISOLATED_BAD_AUDIO;
            r1_error_prefix(err, "upload");
            if (!r->out_of_memory) r1_log_warn("the audio decoder (pid %d) broke its protocol: %s", (int)c->pid,
                                               err->message);
        }
    }
    free(buffer);
    return rc;
}

/* How reaping the child went. */
enum reaped { REAPED, REAPED_LINGERING, REAPED_STOPPED, CANNOT_WAIT };

/* Reaps the child. One that closed its output but goes on running is
 * given until its time is up (REAPED_LINGERING) or the caller gives up
 * (REAPED_STOPPED), then killed; one killed already is only waited for.
 * CANNOT_WAIT when the program r1 runs in ignores SIGCHLD (the child is
 * then reaped by the kernel). */
static enum reaped reap(const audio_isolation *l, child *c, const audio_reply *r, bool killed, int *status) {
    r1_error ignored;
    enum reaped how = killed ? REAPED_STOPPED : REAPED;
    for (;;) {
        pid_t got = waitpid(c->pid, status, WNOHANG);
        if (got == c->pid) return how;
        if (got < 0 && errno != EINTR) return CANNOT_WAIT;
        if (how != REAPED) continue; /* killed: waits for its end */
        if (l->should_stop && l->should_stop(l->user)) how = REAPED_STOPPED;
        else if (over_its_time(l, c, r, &ignored)) how = REAPED_LINGERING;
        if (how != REAPED) kill_decoder(c);
        else nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    }
}

/* The child ended on a signal: say why, in words a client can act on. */
static int explain_signal(child *c, int signal_number, double most_cpu, r1_error *err) {
    if (signal_number == SIGXCPU)
        r1_error_set(err, "upload: decoding took more than %.0f s of CPU time, the limit", most_cpu);
    else
        r1_error_set(err, "upload: the audio decoder failed on this input (it ended on signal %d, %s)", signal_number,
                     strsignal(signal_number));
    r1_log_warn("the audio decoder (pid %d) ended on signal %d (%s); the request fails, nothing else is affected",
                (int)c->pid, signal_number, strsignal(signal_number));
    return AUDIO_ISOLATED_BAD_AUDIO;
}

/* A failure of r1's set-up, not of the upload: the details (detail) go to
 * the log, the client is told where to look. */
static int setup_failure(const char *detail, r1_error *err) {
    r1_log_error("the audio decoder could not run: %s", detail);
    r1_error_set(err, "the audio decoder could not run (the server's log says why)");
    return AUDIO_ISOLATED_FAILED;
}

/* The child closed its output and was reaped with status: its verdict. */
static int conclude(const audio_isolation *l, child *c, int status, double most_cpu, audio_reply *r, audio_pcm *out,
                    r1_error *err) {
    if (WIFSIGNALED(status)) return explain_signal(c, WTERMSIG(status), most_cpu, err);
    int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r1_error why;
    int verdict = audio_reply_finish(r, out, &why);
    if (verdict == 0 && exit_code == AUDIO_DECODER_DECODED) return 0;
    audio_pcm_free(out);
    if (verdict == 1 && exit_code == AUDIO_DECODER_REFUSED) {
        r1_error_set(err, "%s", r->message);
        return AUDIO_ISOLATED_BAD_AUDIO;
    }
    char detail[sizeof err->message + 64];
    if (verdict == 1 && exit_code == AUDIO_DECODER_CANNOT_START) {
        snprintf(detail, sizeof detail, "pid %d: %s", (int)c->pid, r->message);
        return setup_failure(detail, err);
    }
    if (exit_code == AUDIO_DECODER_USAGE || exit_code == 127) {
        snprintf(detail, sizeof detail, "%s exited with status %d: is it the r1-audio-decoder of this r1 (protocol %s)?",
                 l->decoder_path, exit_code, AUDIO_DECODER_PROTOCOL);
        return setup_failure(detail, err);
    }
    if (verdict < 0) r1_error_set(err, "upload: %s (the audio decoder exited with status %d)", why.message, exit_code);
    else r1_error_set(err, "upload: the audio decoder exited with status %d", exit_code);
    r1_log_warn("the audio decoder (pid %d): %s", (int)c->pid, err->message);
    return AUDIO_ISOLATED_BAD_AUDIO;
}

int audio_load_memory_isolated(const audio_isolation *iso, const void *data, size_t size, int target_rate,
                               double max_seconds, audio_pcm *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    if (size == 0) {
        r1_error_set(err, "upload: empty input");
        return AUDIO_ISOLATED_BAD_AUDIO;
    }
    if (target_rate < AUDIO_MIN_RATE || target_rate > AUDIO_MAX_RATE || !(max_seconds > 0.0)) {
        r1_error_set(err, "audio decoding asked for %d Hz and %g s", target_rate, max_seconds);
        return AUDIO_ISOLATED_FAILED;
    }
    audio_isolation l = with_defaults(iso, size);
    child c;
    if (start_decoder(&l, data, size, target_rate, max_seconds, &c, err) != 0) {
        char detail[sizeof err->message];
        memcpy(detail, err->message, sizeof detail);
        return setup_failure(detail, err);
    }
    audio_reply reply;
    double most_samples = ceil(max_seconds * target_rate) + target_rate; /* the resampler's tail */
    audio_reply_init(&reply, target_rate, most_samples < 1e15 ? (long)most_samples : (long)1e15);
    int rc = read_output(&l, &c, &reply, err);
    if (rc != 0) kill_decoder(&c);
    int status = 0;
    enum reaped how = reap(&l, &c, &reply, rc != 0, &status);
    log_stderr(&c);
    close(c.out), close(c.err);
    if (rc != 0) {
        /* decided already */
    } else if (how == CANNOT_WAIT) {
        rc = setup_failure("cannot wait for it (is SIGCHLD ignored?)", err);
    } else if (how == REAPED_STOPPED) {
        r1_error_set(err, "upload: decoding stopped");
        rc = AUDIO_ISOLATED_STOPPED;
    } else if (how == REAPED_LINGERING) {
        r1_error_set(err, "upload: the audio decoder did not exit after its output ended, and was stopped");
        r1_log_warn("the audio decoder (pid %d) lingered after closing its output; killed", (int)c.pid);
        rc = AUDIO_ISOLATED_BAD_AUDIO;
    } else {
        rc = conclude(&l, &c, status, ceil(l.cpu_seconds + l.cpu_per_audio_second * max_seconds), &reply, out, err);
    }
    audio_reply_free(&reply);
    return rc;
}
