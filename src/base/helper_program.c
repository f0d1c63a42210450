/*
 * helper_program.c - finding and starting r1's helper programs (see
 * helper_program.h). posix_spawn, not fork: r1 is multi-threaded, and a
 * forked copy of it could inherit a lock another thread held.
 */
#include "base/helper_program.h"

#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

bool helper_program_runnable(const char *path) { return !strchr(path, '/') || access(path, X_OK) == 0; }

void helper_program_find(const char *name, const char *env_var, const char *given, char *path, size_t size) {
    const char *env = getenv(env_var);
    if (given && *given) {
        snprintf(path, size, "%s", given);
        return;
    }
    if (env && *env) {
        snprintf(path, size, "%s", env);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash && (size_t)(slash - self) + strlen(name) + 2 <= size) {
            snprintf(path, size, "%.*s/%s", (int)(slash - self), self, name);
            if (access(path, X_OK) == 0) return;
        }
    }
    snprintf(path, size, "%s", name);
}

int helper_program_spawn(const char *path, char *const argv[], const helper_streams *streams, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, streams->in, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, streams->out, STDOUT_FILENO);
    if (streams->err != HELPER_SHARES_STDERR) posix_spawn_file_actions_adddup2(&actions, streams->err, STDERR_FILENO);
    /* a server blocks SIGTERM for its signal thread and ignores SIGPIPE */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE), sigaddset(&defaults, SIGTERM), sigaddset(&defaults, SIGINT), sigaddset(&defaults, SIGHUP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (streams->own_process_group) {
        posix_spawnattr_setpgroup(&attr, 0);
        flags |= POSIX_SPAWN_SETPGROUP;
    }
    posix_spawnattr_setflags(&attr, flags);
    int rc = strchr(path, '/') ? posix_spawn(pid, path, &actions, &attr, argv, environ)
                               : posix_spawnp(pid, path, &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc;
}
