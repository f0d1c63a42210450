/*
 * cmd_audit.c - `r1 audit verify`: checks the hmac chain of audit log
 * files (src/server/audit_log.h) and says where it breaks.
 *
 *   r1 audit verify LOG [LOG2 ...] --key-file K
 *       files in chain order (oldest first: `audit.log.* audit.log`);
 *       prints "ok: N lines" and exits 0 when intact, or
 *       "LOG: line 17: hmac mismatch (edited, or a line before it was
 *       removed)" and exits 1 at the first break. The key file may also come
 *       from $R1_AUDIT_KEY_FILE. Exit status 2: bad usage or an unreadable
 *       file or key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "server/audit_log.h"
#include "server/auth_crypto.h"

static void audit_usage(void) {
    fprintf(stderr, "usage: r1 audit verify LOG [LOG2 ...] --key-file K   (files oldest first; key also from "
                    "$R1_AUDIT_KEY_FILE)\n");
}

static int audit_verify_command(int argc, char **argv) {
    const char *key_file = getenv("R1_AUDIT_KEY_FILE");
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--key-file") == 0 && i + 1 < argc) key_file = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "r1 audit: unknown option or missing value '%s'\n", argv[i]);
            free(paths);
            audit_usage();
            return 2;
        } else paths[n++] = argv[i];
    }
    if (n == 0 || !key_file) {
        fprintf(stderr, "r1 audit verify: %s\n", n == 0 ? "no log file given" : "no key file (--key-file)");
        free(paths);
        audit_usage();
        return 2;
    }
    auth_secret key;
    r1_error err;
    if (auth_secret_read(key_file, AUDIT_KEY_MIN, &key, &err) != 0) {
        fprintf(stderr, "r1 audit: %s\n", err.message);
        free(paths);
        return 2;
    }
    audit_report rep;
    int rc = audit_verify_files(paths, n, key.bytes, key.len, &rep);
    auth_secret_free(&key);
    if (rc < 0) fprintf(stderr, "r1 audit: %s\n", rep.reason);
    else if (rc > 0) printf("%s: line %lld: %s\n", paths[rep.bad_file], (long long)rep.bad_line, rep.reason);
    else {
        if (rep.note[0]) printf("note: %s\n", rep.note);
        printf("ok: %lld lines", (long long)rep.lines);
        if (rep.files > 1) printf(" in %d files", rep.files);
        printf(" (%lld records)\n", (long long)rep.records);
    }
    free(paths);
    return rc < 0 ? 2 : rc;
}

int cmd_audit(int argc, char **argv) {
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        audit_usage();
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "verify") == 0) return audit_verify_command(argc - 1, argv + 1);
    fprintf(stderr, "r1 audit: unknown sub-command '%s'\n", argv[0]);
    audit_usage();
    return 2;
}
