/*
 * audio_isolated.c - uploads decoded by r1-audio-decoder in a child process
 * (see audio_isolated.h): the upload goes to the child as a memory file on
 * its standard input, the samples come back through a pipe as the child
 * decodes them, its standard error through another (logged, never mixed
 * into r1's log as it is), and the child is watched (CPU time and wall
 * clock against the audio it has sent, the caller giving up), killed with
 * whatever it started when it goes too far, reaped, and its end explained.
 *
 * Who is to blame decides the answer: what the upload made the decoder do
 * is a refusal of the upload (AUDIO_ISOLATED_BAD_AUDIO, a 400, its message
 * for the client); what went wrong on r1's side (no memory, no pipe, no
 * decoder) is AUDIO_ISOLATED_FAILED (a 500) whose details go to the log
 * only, the client being told that the log says why.
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

/* What the child wrote on its standard error that is kept for the log
 * (the logger's line holds 2 KB). */
#define MAX_STDERR_BYTES 1024
/* How often the child's CPU time is read from /proc. */
#define WATCH_INTERVAL_SECONDS 0.2

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A failure on r1's side: detail goes to the log, the client is told to
 * look there. AUDIO_ISOLATED_FAILED. */
static int server_failure(const char *detail, r1_error *err) {
    r1_log_error("audio decoding failed on the server's side: %s", detail);
    r1_error_set(err, "the server could not decode the upload (its log says why)");
    return AUDIO_ISOLATED_FAILED;
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

/* ---- starting the child ---- */

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
    int out, err;       /* the read ends of its standard output and error; err -1 once it ended */
    double started;     /* now_seconds() */
    double watched_at;  /* when its CPU time was last read */
    double cpu_seconds; /* as last read; -1 when /proc cannot say */
    char stderr_text[MAX_STDERR_BYTES + 1];
    size_t stderr_bytes;
    bool stderr_cut; /* it wrote more than is kept */
} child;

/* The pipe for the child's standard error. Only r1's end does not block:
 * r1 reads it between other things, while the child writes as a program
 * normally does (a non-blocking standard error would cut its messages). */
static int stderr_pipe(int fds[2], r1_error *err) {
    if (pipe2(fds, O_CLOEXEC) != 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0)
        return r1_error_set(err, "cannot make a pipe for the audio decoder: %s", strerror(errno));
    return 0;
}

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
    if (stderr_pipe(errors, err) != 0) {
        close(in), close(out[0]), close(out[1]);
        return -1;
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
    c->started = c->watched_at = now_seconds();
    c->cpu_seconds = 0;
    c->stderr_bytes = 0;
    c->stderr_cut = false;
    return 0;
}

/* Ends the child and anything it started (its own process group). */
static void kill_decoder(const child *c) {
    if (c->pid <= 1) return;
    kill(-c->pid, SIGKILL);
    kill(c->pid, SIGKILL);
}

/* ---- its standard error ---- */

/* Keeps the start of what the child writes on its standard error; at its
 * end the pipe is closed (a closed pipe would wake poll for ever). */
static void read_stderr(child *c) {
    char scratch[4096];
    while (c->err >= 0) {
        ssize_t n = read(c->err, scratch, sizeof scratch);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return; /* nothing more for now */
        if (n == 0) {
            close(c->err);
            c->err = -1;
            return;
        }
        size_t keep = MAX_STDERR_BYTES - c->stderr_bytes;
        if ((size_t)n > keep) c->stderr_cut = true;
        else keep = (size_t)n;
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
    r1_log_warn("the audio decoder (pid %d) wrote on its standard error: %s%s", (int)c->pid, c->stderr_text,
                c->stderr_cut ? " (cut)" : "");
}

/* ---- watching its time ---- */

/* CPU time the child has used, from /proc/PID/stat (user and system
 * ticks, fields 14 and 15, counted after the command's closing
 * parenthesis); -1 when it cannot be read. */
static double read_cpu_seconds(pid_t pid) {
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
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

/* The child's CPU time, read again when WATCH_INTERVAL_SECONDS have
 * passed (reading /proc at every chunk of samples would cost r1 more than
 * the watch is worth). Without /proc only the wall clock watches: said
 * once in the log. */
static double cpu_seconds_used(child *c) {
    double now = now_seconds();
    if (now - c->watched_at < WATCH_INTERVAL_SECONDS) return c->cpu_seconds;
    c->watched_at = now;
    c->cpu_seconds = read_cpu_seconds(c->pid);
    static bool said;
    if (c->cpu_seconds < 0 && !said) {
        said = true;
        r1_log_warn("cannot read /proc/%d/stat: the audio decoder's CPU time is not watched, only its wall clock",
                    (int)c->pid);
    }
    return c->cpu_seconds;
}

/* Whether the child has gone past what the audio it sent so far allows;
 * err says which limit, and the log too. */
static bool over_its_time(const audio_isolation *l, child *c, const audio_reply *r, r1_error *err) {
    double audio = (double)(r->sample_bytes / sizeof(float)) / r->sample_rate;
    double cpu_allowed = l->cpu_seconds + l->cpu_per_audio_second * audio;
    double wall_allowed = l->wall_seconds + 2 * cpu_allowed;
    if (cpu_seconds_used(c) > cpu_allowed)
        r1_error_set(err, "upload: decoding used more than %.1f s of CPU time for %.0f s of audio, the limit",
                     cpu_allowed, audio);
    else if (now_seconds() - c->started > wall_allowed)
        r1_error_set(err, "upload: decoding took longer than %.1f s for %.0f s of audio, the limit", wall_allowed,
                     audio);
    else
        return false;
    r1_log_warn("the audio decoder (pid %d) was stopped: %s", (int)c->pid, err->message);
    return true;
}

/* ---- reading its output, reaping it ---- */

/* Reads the child's output into r until it closes it. 0, or one of
 * AUDIO_ISOLATED_* with err (the child is then still to be killed). */
static int read_output(const audio_isolation *l, child *c, audio_reply *r, r1_error *err) {
    enum { BUFFER_BYTES = 1 << 16 };
    unsigned char *buffer = malloc(BUFFER_BYTES);
    if (!buffer) return server_failure("out of memory for a read buffer", err);
    char failure[sizeof err->message] = "";
    int rc = 0;
    while (rc == 0 && !failure[0]) {
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
        int ready = poll(p, 2, 200); /* a negative fd (stderr ended) is not watched */
        if (ready < 0 && errno != EINTR)
            snprintf(failure, sizeof failure, "waiting for the audio decoder: %s", strerror(errno));
        if (ready <= 0) continue;
        if (p[1].revents) read_stderr(c);
        if (!p[0].revents) continue;
        ssize_t n = read(c->out, buffer, BUFFER_BYTES);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) break;
        if (n < 0) {
            snprintf(failure, sizeof failure, "reading from the audio decoder: %s", strerror(errno));
        } else if (audio_reply_feed(r, buffer, (size_t)n, err) != 0) {
            if (r->out_of_memory) {
                memcpy(failure, err->message, sizeof failure);
            } else {
                rc = AUDIO_ISOLATED_BAD_AUDIO;
                r1_error_prefix(err, "upload");
                r1_log_warn("the audio decoder (pid %d) broke its protocol: %s", (int)c->pid, err->message);
            }
        }
    }
    free(buffer);
    return failure[0] ? server_failure(failure, err) : rc;
}

/* How reaping the child went. */
enum reaped { REAPED, REAPED_AFTER_KILL, REAPED_LINGERING, REAPED_STOPPED, CANNOT_WAIT };

/* Reaps the child. One killed already (killed) is only waited for
 * (REAPED_AFTER_KILL). One that closed its output but goes on running is
 * given until its time is up (REAPED_LINGERING) or the caller gives up
 * (REAPED_STOPPED), then killed. CANNOT_WAIT when the program r1 runs in
 * ignores SIGCHLD (the kernel reaps the child then). Its standard error
 * is read meanwhile, so that it cannot block on a full pipe. */
static enum reaped reap(const audio_isolation *l, child *c, const audio_reply *r, bool killed, int *status) {
    enum reaped how = killed ? REAPED_AFTER_KILL : REAPED;
    for (;;) {
        pid_t got = waitpid(c->pid, status, WNOHANG);
        if (got == c->pid) return how;
        if (got < 0 && errno != EINTR) return CANNOT_WAIT;
        read_stderr(c);
        if (how == REAPED) {
            r1_error ignored;
            if (l->should_stop && l->should_stop(l->user)) how = REAPED_STOPPED;
            else if (over_its_time(l, c, r, &ignored)) how = REAPED_LINGERING;
            if (how != REAPED) kill_decoder(c);
        }
        nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    }
}

/* ---- its verdict ---- */

/* The child ended on a signal: say why, in words a client can act on. */
static int explain_signal(const child *c, int signal_number, double most_cpu, r1_error *err) {
    if (signal_number == SIGXCPU)
        r1_error_set(err, "upload: decoding took more than %.0f s of CPU time, the limit", most_cpu);
    else
        r1_error_set(err, "upload: the audio decoder failed on this input (it ended on signal %d, %s)", signal_number,
                     strsignal(signal_number));
    r1_log_warn("the audio decoder (pid %d) ended on signal %d (%s); the request fails, nothing else is affected",
                (int)c->pid, signal_number, strsignal(signal_number));
    return AUDIO_ISOLATED_BAD_AUDIO;
}

/* The child closed its output and was reaped with status: its verdict. */
static int conclude(const audio_isolation *l, const child *c, int status, double most_cpu, audio_reply *r,
                    audio_pcm *out, r1_error *err) {
    if (WIFSIGNALED(status)) return explain_signal(c, WTERMSIG(status), most_cpu, err);
    int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r1_error why;
    int verdict = audio_reply_finish(r, out, &why);
    if (verdict == 0 && exit_code == AUDIO_DECODER_DECODED) return 0;
    audio_pcm_free(out);
    char detail[sizeof err->message + 128];
    if (exit_code == AUDIO_DECODER_CANNOT_START) {
        snprintf(detail, sizeof detail, "the audio decoder (pid %d) could not start: %s", (int)c->pid,
                 verdict == 1 ? r->message : "it did not say why");
        return server_failure(detail, err);
    }
    if (exit_code == AUDIO_DECODER_USAGE || exit_code == 127) {
        snprintf(detail, sizeof detail, "%s exited with status %d: is it the r1-audio-decoder of this r1 (protocol %s)?",
                 l->decoder_path, exit_code, AUDIO_DECODER_PROTOCOL);
        return server_failure(detail, err);
    }
    if (verdict == 1) { /* a refusal, whatever the status says */
        r1_error_set(err, "%s", r->message);
        return AUDIO_ISOLATED_BAD_AUDIO;
    }
    if (verdict < 0) r1_error_set(err, "upload: %s (the audio decoder exited with status %d)", why.message, exit_code);
    else r1_error_set(err, "upload: the audio decoder sent its samples but exited with status %d", exit_code);
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
        return server_failure(detail, err);
    }
    audio_reply reply;
    double most_samples = ceil(max_seconds * target_rate) + target_rate; /* the resampler's tail */
    audio_reply_init(&reply, target_rate, most_samples < 1e15 ? (long)most_samples : (long)1e15);
    int rc = read_output(&l, &c, &reply, err);
    if (rc != 0) kill_decoder(&c);
    int status = 0;
    enum reaped how = reap(&l, &c, &reply, rc != 0, &status);
    log_stderr(&c);
    close(c.out);
    if (c.err >= 0) close(c.err);
    if (rc != 0) {
        /* decided while reading */
    } else if (how == CANNOT_WAIT) {
        rc = server_failure("cannot wait for the audio decoder (is SIGCHLD ignored?)", err);
    } else if (how == REAPED_STOPPED) {
        r1_error_set(err, "upload: decoding stopped");
        rc = AUDIO_ISOLATED_STOPPED;
    } else if (how == REAPED_LINGERING) {
        r1_error_set(err, "upload: the audio decoder did not exit after its output ended, and was stopped");
        rc = AUDIO_ISOLATED_BAD_AUDIO;
    } else {
        rc = conclude(&l, &c, status, ceil(l.cpu_seconds + l.cpu_per_audio_second * max_seconds), &reply, out, err);
    }
    audio_reply_free(&reply);
    return rc;
}
