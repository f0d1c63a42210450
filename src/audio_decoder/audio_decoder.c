/*
 * audio_decoder.c - r1-audio-decoder: one audio upload decoded in a process
 * of its own, under limits.
 *
 * Why a separate process: an upload is hostile input, and decoding it runs
 * half a dozen third-party parsers (libsndfile, and under it libFLAC,
 * libmpg123, libopus, libvorbis). A crash, a runaway allocation or an
 * endless loop in any of them, on one crafted file, must cost that request
 * and nothing else: here it ends this process, r1 (src/audio/
 * audio_isolated.c) reports it to the client, and the server goes on.
 *
 *   r1-audio-decoder PROTOCOL RATE MAX_SECONDS MEMORY_BYTES CPU_SECONDS
 *
 * reads the upload on standard input (r1 passes a memory file, which is
 * mapped; anything else is read whole) and writes the mono samples at RATE,
 * as they are decoded, in the records of src/audio/audio_decoder_reply.h on
 * standard output; audio longer than MAX_SECONDS is refused. PROTOCOL is
 * the version of those records (AUDIO_DECODER_PROTOCOL): a decoder left
 * from another version of r1 exits with status 2 instead. The exit status
 * says how it went (AUDIO_DECODER_* in that header). Before it
 * reads a byte it confines itself:
 *   - address space MEMORY_BYTES and CPU time CPU_SECONDS (setrlimit: past
 *     the first, allocations fail; past the second, the kernel ends the
 *     process with SIGXCPU; r1 passes the most the longest audio could
 *     earn, and watches the finer allowance itself);
 *   - no file descriptors beyond its three (RLIMIT_NOFILE 3: nothing can
 *     be opened, no socket made), no core file, no file written, no child
 *     process (RLIMIT_NPROC 0, for users other than root), no privileges
 *     gained (PR_SET_NO_NEW_PRIVS);
 *   - killed if r1 dies (PR_SET_PDEATHSIG), in / as working directory;
 *   - a seccomp filter: only the system calls decoding needs (below).
 * Built with AddressSanitizer or ThreadSanitizer, which reserve terabytes
 * of address space, it leaves the address space unlimited, installs no
 * filter and skips the leak check at exit.
 */
#include <errno.h>
#include <math.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio/audio_decoder_reply.h"
#include "audio/audio_file.h"
#include "base/sanitizer.h"

static int write_all(const void *bytes, size_t n) {
    const unsigned char *p = bytes;
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

static int write_record(char kind, const void *payload, uint32_t length) {
    unsigned char header[AUDIO_REPLY_HEADER_BYTES] = {(unsigned char)kind};
    memcpy(header + 1, &length, sizeof length);
    return write_all(header, sizeof header) == 0 && write_all(payload, length) == 0 ? 0 : -1;
}

/* The decoder's sink: each chunk of samples leaves as it is decoded. */
static int send_samples(void *user, const float *samples, long n, r1_error *err) {
    (void)user;
    if (write_record(AUDIO_REPLY_SAMPLES, samples, (uint32_t)((size_t)n * sizeof *samples)) != 0)
        return r1_error_set(err, "writing samples: %s", strerror(errno));
    return 0;
}

static void refuse(const char *message) {
    size_t n = strlen(message);
    if (n > AUDIO_REPLY_MAX_MESSAGE) n = AUDIO_REPLY_MAX_MESSAGE;
    if (n == 0) message = "failed", n = strlen(message);
    write_record(AUDIO_REPLY_REFUSED, message, (uint32_t)n); /* r1 sees a write failure as missing output */
}

static int set_limit(int resource, rlim_t value, const char *name, r1_error *err) {
    /* CPU time: SIGXCPU at the soft limit, which r1 reports as such (at
     * the hard limit the kernel sends SIGKILL, like any other killer) */
    struct rlimit limit = {value, resource == RLIMIT_CPU ? value + 1 : value};
    if (setrlimit(resource, &limit) != 0) return r1_error_set(err, "cannot limit %s: %s", name, strerror(errno));
    return 0;
}

#ifndef R1_UNDER_SANITIZER
/* Conditions on a system call's argument (written out: libseccomp's own
 * macros leave fields to zero, which clang's -Wextra refuses). */
static struct scmp_arg_cmp argument_is(unsigned arg, scmp_datum_t value) {
    return (struct scmp_arg_cmp){.arg = arg, .op = SCMP_CMP_EQ, .datum_a = value, .datum_b = 0};
}
static struct scmp_arg_cmp argument_lacks(unsigned arg, scmp_datum_t bits) {
    return (struct scmp_arg_cmp){.arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = bits, .datum_b = 0};
}
#endif

/* The system calls decoding makes once the limits are set (seen with
 * strace over WAV, FLAC, Ogg Vorbis, Ogg Opus, MP3 and AIFF): reading
 * standard input, writing standard output and error, memory, and what
 * glibc needs to free, seed malloc and abort. Everything else fails with
 * EPERM: opening, sockets, executing, signalling or tracing another
 * process (r1 runs as the same user), and mapping memory executable. */
static int forbid_other_system_calls(r1_error *err) {
#ifdef R1_UNDER_SANITIZER
    (void)err; /* the sanitizers' runtimes make calls of their own */
    return 0;
#else
    scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!filter) return r1_error_set(err, "seccomp_init failed");
    static const int any_arguments[] = {
        SCMP_SYS(close),  SCMP_SYS(fstat),      SCMP_SYS(newfstatat),   SCMP_SYS(lseek),     SCMP_SYS(munmap),
        SCMP_SYS(mremap), SCMP_SYS(madvise),    SCMP_SYS(brk),          SCMP_SYS(getrandom), SCMP_SYS(futex),
        SCMP_SYS(exit),   SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
        SCMP_SYS(getpid), SCMP_SYS(gettid),     SCMP_SYS(sysinfo),      SCMP_SYS(clock_gettime)};
    int rc = 0;
    for (size_t i = 0; i < sizeof any_arguments / sizeof any_arguments[0] && rc == 0; i++)
        rc = seccomp_rule_add(filter, SCMP_ACT_ALLOW, any_arguments[i], 0);
    if (rc == 0) rc = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(read), 1, argument_is(0, STDIN_FILENO));
    if (rc == 0) rc = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, argument_is(0, STDOUT_FILENO));
    if (rc == 0) rc = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, argument_is(0, STDERR_FILENO));
    if (rc == 0) /* abort() signals itself */
        rc = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, argument_is(0, (scmp_datum_t)getpid()));
    if (rc == 0) rc = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, argument_lacks(2, PROT_EXEC));
    if (rc == 0) rc = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, argument_lacks(2, PROT_EXEC));
    if (rc == 0) rc = seccomp_load(filter);
    seccomp_release(filter);
    if (rc != 0) return r1_error_set(err, "cannot install the system-call filter: %s", strerror(-rc));
    return 0;
#endif
}

static int confine(rlim_t memory_bytes, rlim_t cpu_seconds, r1_error *err) {
    if (close_range(3, ~0u, 0) != 0) return r1_error_set(err, "cannot close inherited files: %s", strerror(errno));
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return r1_error_set(err, "prctl: %s", strerror(errno));
    if (chdir("/") != 0) return r1_error_set(err, "chdir /: %s", strerror(errno));
#ifndef R1_UNDER_SANITIZER
    if (set_limit(RLIMIT_AS, memory_bytes, "the address space", err) != 0) return -1;
#else
    (void)memory_bytes;
#endif
    if (set_limit(RLIMIT_CPU, cpu_seconds, "CPU time", err) != 0 || set_limit(RLIMIT_CORE, 0, "core files", err) != 0 ||
        set_limit(RLIMIT_FSIZE, 0, "file sizes", err) != 0 || set_limit(RLIMIT_NOFILE, 3, "open files", err) != 0 ||
        set_limit(RLIMIT_NPROC, 0, "processes", err) != 0)
        return -1;
    return forbid_other_system_calls(err);
}

/* Standard input, mapped when it is a regular file, else read whole. */
static unsigned char *read_input(size_t *size, bool *mapped, r1_error *err) {
    struct stat st;
    *mapped = false;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, STDIN_FILENO, 0);
        if (p == MAP_FAILED) {
            r1_error_set(err, "cannot map the input: %s", strerror(errno));
            return NULL;
        }
        *size = (size_t)st.st_size;
        *mapped = true;
        return p;
    }
    return audio_read_stream(stdin, "standard input", size, err);
}

/* Ends main with code. Under a sanitizer without the leak check at
 * exit: LeakSanitizer reads /proc files, which a process with no file
 * descriptor to spare cannot open (it spins until its CPU limit); the
 * decoding code is leak-checked in-process instead (test_audio_file,
 * fuzz_audio). */
static int finish(int code) {
#ifdef R1_UNDER_SANITIZER
    _exit(code);
#endif
    return code;
}

static bool parse_number(const char *text, double low, double high, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v < low || v > high) return false;
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    double rate, max_seconds, memory_bytes, cpu_seconds;
    if (argc != 6 || strcmp(argv[1], AUDIO_DECODER_PROTOCOL) != 0 ||
        !parse_number(argv[2], AUDIO_MIN_RATE, AUDIO_MAX_RATE, &rate) ||
        !parse_number(argv[3], 0.001, 1e7, &max_seconds) || !parse_number(argv[4], 1 << 24, 1e15, &memory_bytes) ||
        !parse_number(argv[5], 1, 1e7, &cpu_seconds)) {
        fprintf(stderr, "usage: r1-audio-decoder %s RATE MAX_SECONDS MEMORY_BYTES CPU_SECONDS < upload > records\n"
                        "(started by r1 for each audio upload; see src/audio_decoder/audio_decoder.c)\n",
                AUDIO_DECODER_PROTOCOL);
        return AUDIO_DECODER_USAGE;
    }
    r1_error err = {{0}};
    if (confine((rlim_t)memory_bytes, (rlim_t)ceil(cpu_seconds), &err) != 0) {
        refuse(err.message);
        return finish(AUDIO_DECODER_CANNOT_START);
    }
    size_t size = 0;
    bool mapped;
    unsigned char *input = read_input(&size, &mapped, &err);
    if (!input) {
        refuse(err.message);
        return finish(AUDIO_DECODER_CANNOT_START);
    }
    audio_stream_info info;
    int rc = audio_decode_memory_to(input, size, (int)rate, max_seconds, send_samples, NULL, &info, &err);
    if (rc == 0) {
        audio_decoder_end end = {.n_samples = info.n_samples,
                                 .source_rate = info.source_rate,
                                 .source_channels = info.source_channels,
                                 .seconds = info.seconds};
        rc = write_record(AUDIO_REPLY_END, &end, sizeof end);
    } else {
        refuse(err.message);
    }
    if (mapped) munmap(input, size);
    else free(input);
    return finish(rc == 0 ? AUDIO_DECODER_DECODED : AUDIO_DECODER_REFUSED);
}
