/*
 * helper_program.h - finding and starting the programs r1 runs beside
 * itself, each in a process of its own: r1-tts-worker (espeak-ng) and
 * r1-audio-decoder (uploads decoded under limits).
 */
#ifndef R1_BASE_HELPER_PROGRAM_H
#define R1_BASE_HELPER_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Where to start the helper called name: given when not NULL or empty (a
 * command-line flag), else $env_var when set, else beside the running
 * program when it is there, else the bare name (looked up on $PATH when
 * started). */
void helper_program_find(const char *name, const char *env_var, const char *given, char *path, size_t size);

/* Whether path can be started: true for a bare name (decided by $PATH at
 * start), else whether it is an executable file. */
bool helper_program_runnable(const char *path);

/* err of a helper that writes on r1's own standard error. */
#define HELPER_SHARES_STDERR (-1)

/* What a helper is started with. */
typedef struct helper_streams {
    int in, out;            /* its standard input and output */
    int err;                /* its standard error: a descriptor, or HELPER_SHARES_STDERR */
    bool own_process_group; /* a group of its own, so that kill(-pid) ends whatever it started */
} helper_streams;

/* Starts path (by $PATH when it has no slash) with argv and streams, no
 * signal blocked and the default action for those a server changes
 * (SIGPIPE, SIGTERM, SIGINT, SIGHUP), so an operator's kill reaches it.
 * 0 with *pid, or an errno value. */
int helper_program_spawn(const char *path, char *const argv[], const helper_streams *streams, pid_t *pid);

#endif
