/*
 * cmd_keys.c - `r1 keys`: the API keys `r1 serve --auth keys` accepts
 * (src/server/api_keys.h), in a SQLite file.
 *
 *   r1 keys create --name NAME --scopes chat,models.read [--rate 60/min]
 *                  [--tokens 100k/day] [--tokens 20k/min] [--db FILE] [--json]
 *       makes a key and prints it once, alone on stdout (or as JSON); only
 *       a salted hash is kept, so it cannot be shown again
 *   r1 keys list [--db FILE] [--json]
 *       id, name, scopes, limits, creation time and state of every key
 *       (never a key itself)
 *   r1 keys revoke [--db FILE] [--] ID|NAME
 *       refuses the key from then on, in every process using the file
 *
 * The file is --db, else $R1_KEYS_DB, else ./r1-keys.db. Exit status 0 on
 * success, 1 when the store refuses (name taken, no such key), 2 on bad
 * usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "commands.h"
#include "server/api_keys.h"

typedef struct keys_options {
    const char *db, *name, *scopes, *target;
    api_key_limits limits;
    bool json;
} keys_options;

static void keys_usage(void) {
    fprintf(stderr,
            "usage: r1 keys create --name NAME --scopes chat,models.read [--rate N/min] [--tokens N/day|N/min]...\n"
            "                      [--db FILE] [--json]\n"
            "       r1 keys list [--db FILE] [--json]\n"
            "       r1 keys revoke [--db FILE] [--] ID|NAME\n"
            "scopes: chat, audio.transcribe, audio.speech, models.read, admin\n"
            "the database: --db, else $R1_KEYS_DB, else ./r1-keys.db\n");
}

/* "60", "100k", "2M": a whole number with an optional k or M. */
static int parse_amount(const char *text, size_t len, int64_t *out) {
    char buf[32];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, text, len);
    buf[len] = 0;
    int64_t scale = 1;
    if (buf[len - 1] == 'k' || buf[len - 1] == 'K') scale = 1000, buf[len - 1] = 0;
    else if (buf[len - 1] == 'M') scale = 1000000, buf[len - 1] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf || *end || v < 1 || v > INT64_MAX / scale / 60) return -1;
    *out = v * scale;
    return 0;
}

/* "N/min", "N/s" (times 60) or, for tokens, "N/day". */
static int parse_rate(const char *option, const char *text, bool tokens, keys_options *o) {
    const char *slash = strchr(text, '/');
    int64_t n = 0;
    const char *unit = slash ? slash + 1 : "min";
    if (parse_amount(text, slash ? (size_t)(slash - text) : strlen(text), &n) != 0) unit = "?";
    if (strcmp(unit, "min") == 0 || strcmp(unit, "m") == 0) {
        if (tokens) o->limits.tokens_per_min = n;
        else o->limits.requests_per_min = n;
    } else if (strcmp(unit, "s") == 0 || strcmp(unit, "sec") == 0) {
        if (tokens) o->limits.tokens_per_min = n * 60;
        else o->limits.requests_per_min = n * 60;
    } else if (tokens && strcmp(unit, "day") == 0) {
        o->limits.tokens_per_day = n;
    } else {
        fprintf(stderr, "r1 keys: %s '%s': expected N/min%s (N may end in k or M)\n", option, text,
                tokens ? " or N/day" : " or N/s");
        return -1;
    }
    return 0;
}

/* Parses the options after the sub-command; 0, or 2 after a message. */
static int parse_options(int argc, char **argv, keys_options *o) {
    bool options_ended = false; /* after "--", everything is the target */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (options_ended || (a[0] != '-' && !o->target)) {
            if (o->target) {
                fprintf(stderr, "r1 keys: one key at a time ('%s' and '%s')\n", o->target, a);
                return 2;
            }
            o->target = a;
        } else if (strcmp(a, "--") == 0) options_ended = true;
        else if (strcmp(a, "--json") == 0) o->json = true;
        else if (strcmp(a, "--db") == 0 && has_value) o->db = argv[++i];
        else if (strcmp(a, "--name") == 0 && has_value) o->name = argv[++i];
        else if (strcmp(a, "--scopes") == 0 && has_value) o->scopes = argv[++i];
        else if (strcmp(a, "--rate") == 0 && has_value) {
            if (parse_rate(a, argv[++i], false, o) != 0) return 2;
        } else if (strcmp(a, "--tokens") == 0 && has_value) {
            if (parse_rate(a, argv[++i], true, o) != 0) return 2;
        } else {
            fprintf(stderr, "r1 keys: unknown option or missing value '%s'\n", a);
            keys_usage();
            return 2;
        }
    }
    if (!o->db) o->db = getenv("R1_KEYS_DB");
    if (!o->db || !*o->db) o->db = "./r1-keys.db";
    return 0;
}

static api_keys *open_db(const char *path) {
    r1_error err;
    api_keys *db = api_keys_open(path, &err);
    if (!db) fprintf(stderr, "r1 keys: %s\n", err.message);
    return db;
}

static void format_time(int64_t t, char out[32]) {
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *info_json(const api_key_info *k) {
    char created[32], prefix[32];
    format_time(k->created, created);
    snprintf(prefix, sizeof prefix, API_KEY_PREFIX "%s", k->id);
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:b}", "id", k->id, "prefix", prefix, "name", k->name, "scopes",
                     k->scopes, "requests_per_min", (json_int_t)k->limits.requests_per_min, "tokens_per_min",
                     (json_int_t)k->limits.tokens_per_min, "tokens_per_day", (json_int_t)k->limits.tokens_per_day,
                     "created", created, "revoked", k->revoked);
}

static void print_json(json_t *j) {
    char *text = json_dumps(j, JSON_INDENT(2));
    if (text) puts(text);
    free(text);
    json_decref(j);
}

static void limit_text(int64_t v, char out[24]) {
    if (v > 0) snprintf(out, 24, "%" PRId64, v);
    else snprintf(out, 24, "-");
}

static int keys_create(keys_options *o) {
    if (!o->name || !o->scopes) {
        fprintf(stderr, "r1 keys create: --name and --scopes are required\n");
        keys_usage();
        return 2;
    }
    api_keys *db = open_db(o->db);
    if (!db) return 1;
    char key[API_KEY_TEXT_LEN + 1];
    api_key_info info;
    r1_error err;
    int rc = api_keys_create(db, o->name, o->scopes, &o->limits, (int64_t)time(NULL), key, &info, &err);
    api_keys_close(db);
    if (rc != 0) {
        fprintf(stderr, "r1 keys create: %s\n", err.message);
        return 1;
    }
    if (o->json) {
        json_t *j = info_json(&info);
        json_object_set_new(j, "key", json_string(key));
        print_json(j);
    } else {
        puts(key);
    }
    fprintf(stderr, "r1 keys: created key %s '%s' (scopes: %s) in %s; it is shown only now: store it.\n", info.id,
            info.name, info.scopes, o->db);
    return 0;
}

static void print_table(const api_key_info *keys, size_t n) {
    printf("%-8s  %-20s  %-32s  %7s  %8s  %9s  %-20s  %s\n", "ID", "NAME", "SCOPES", "REQ/MIN", "TOK/MIN", "TOK/DAY",
           "CREATED", "STATE");
    for (size_t i = 0; i < n; i++) {
        const api_key_info *k = &keys[i];
        char created[32], rpm[24], tpm[24], tpd[24];
        format_time(k->created, created);
        limit_text(k->limits.requests_per_min, rpm);
        limit_text(k->limits.tokens_per_min, tpm);
        limit_text(k->limits.tokens_per_day, tpd);
        printf("%-8s  %-20s  %-32s  %7s  %8s  %9s  %-20s  %s\n", k->id, k->name, k->scopes, rpm, tpm, tpd, created,
               k->revoked ? "revoked" : "active");
    }
}

static int keys_list(keys_options *o) {
    api_keys *db = open_db(o->db);
    if (!db) return 1;
    api_key_info *keys = NULL;
    size_t n = 0;
    r1_error err;
    int rc = api_keys_list(db, &keys, &n, &err);
    api_keys_close(db);
    if (rc != 0) {
        fprintf(stderr, "r1 keys list: %s\n", err.message);
        return 1;
    }
    if (o->json) {
        json_t *all = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(all, info_json(&keys[i]));
        print_json(all);
    } else {
        print_table(keys, n);
    }
    free(keys);
    return 0;
}

static int keys_revoke(keys_options *o) {
    if (!o->target) {
        fprintf(stderr, "r1 keys revoke: which key? (an id or a name)\n");
        keys_usage();
        return 2;
    }
    api_keys *db = open_db(o->db);
    if (!db) return 1;
    api_key_info info;
    r1_error err;
    int rc = api_keys_revoke(db, o->target, (int64_t)time(NULL), &info, &err);
    api_keys_close(db);
    if (rc != 0) {
        fprintf(stderr, "r1 keys revoke: %s\n", err.message);
        return 1;
    }
    printf("revoked key %s '%s'\n", info.id, info.name);
    return 0;
}

int cmd_keys(int argc, char **argv) {
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        keys_usage();
        return argc < 1 ? 2 : 0;
    }
    keys_options o = {0};
    int rc = parse_options(argc - 1, argv + 1, &o);
    if (rc != 0) return rc;
    if (o.target && strcmp(argv[0], "revoke") != 0) {
        fprintf(stderr, "r1 keys %s: unexpected argument '%s'\n", argv[0], o.target);
        return 2;
    }
    if (strcmp(argv[0], "create") == 0) return keys_create(&o);
    if (strcmp(argv[0], "list") == 0) return keys_list(&o);
    if (strcmp(argv[0], "revoke") == 0) return keys_revoke(&o);
    fprintf(stderr, "r1 keys: unknown sub-command '%s'\n", argv[0]);
    keys_usage();
    return 2;
}
