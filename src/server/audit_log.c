/*
 * audit_log.c - writing the audit log: records and file headers with their
 * chained hmac, the fsync policy, rotation by size, and picking the chain
 * up again from the files already on disk (see audit_log.h).
 */
#include "server/audit_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "server/audit_internal.h"

struct audit_log {
    pthread_mutex_t lock;
    char *path;
    audit_fsync fsync_policy;
    int fsync_every;
    uint64_t max_bytes;
    bool content;
    auth_hmac *mac;
    int fd;
    uint64_t size;      /* bytes in the current file */
    int64_t records;    /* records in the current file */
    int64_t file_no;    /* the current file's number */
    int64_t next_seq;
    uint8_t last[AUTH_HMAC_LEN];
    int unsynced;       /* lines written since the last fsync */
    bool torn;          /* a write failed part-way: start a new file before the next line */
};

/* The chain's position at the end of a file on disk. */
typedef struct tail_state {
    int64_t file_no, next_seq;
    uint8_t last[AUTH_HMAC_LEN];
    bool torn; /* the file ends in an incomplete line */
} tail_state;

/* ---- the line format ---- */

bool audit_split_line(const char *line, size_t len, size_t *body_len, uint8_t mac[AUTH_HMAC_LEN]) {
    if (len < AUDIT_SUFFIX_LEN + 2 || line[0] != '{') return false;
    const char *suf = line + len - AUDIT_SUFFIX_LEN;
    if (memcmp(suf, AUDIT_SUFFIX_OPEN, 9) != 0 || memcmp(suf + AUDIT_SUFFIX_LEN - 2, "\"}", 2) != 0) return false;
    for (size_t i = 9; i < 9 + 2 * AUTH_HMAC_LEN; i++)
        if ((suf[i] < '0' || suf[i] > '9') && (suf[i] < 'a' || suf[i] > 'f')) return false;
    if (!auth_hex_decode(suf + 9, 2 * AUTH_HMAC_LEN, mac, AUTH_HMAC_LEN)) return false;
    *body_len = len - AUDIT_SUFFIX_LEN;
    return true;
}

static bool header_fields(json_t *o, audit_line_info *info) {
    json_t *file = json_object_get(o, "file"), *seq = json_object_get(o, "seq");
    const char *prev = json_string_value(json_object_get(o, "prev"));
    if (!json_is_integer(file) || !json_is_integer(seq) || !prev) return false;
    info->header = true;
    info->file = json_integer_value(file);
    info->seq = json_integer_value(seq);
    return json_integer_value(json_object_get(o, "r1_audit")) == 1 &&
           auth_hex_decode(prev, strlen(prev), info->prev, AUTH_HMAC_LEN);
}

bool audit_parse_line(const char *line, size_t len, audit_line_info *info) {
    memset(info, 0, sizeof *info);
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return false;
    }
    bool ok;
    if (json_object_get(o, "r1_audit")) ok = header_fields(o, info);
    else {
        json_t *seq = json_object_get(o, "seq");
        ok = json_is_integer(seq);
        info->seq = json_integer_value(seq);
    }
    json_decref(o);
    return ok;
}

static void format_time(int64_t ms, char out[32]) {
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A JSON string, null for NULL, and a marker for text that is not UTF-8. */
static json_t *text_or_null(const char *s) {
    if (!s) return json_null();
    json_t *j = json_string(s);
    return j ? j : json_string("(not UTF-8)");
}

static json_t *record_object(const audit_entry *e, int64_t seq, bool content) {
    char when[32];
    format_time(e->time_ms, when);
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer(seq));
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "request_id", text_or_null(e->request_id));
    json_object_set_new(o, "subject", text_or_null(e->subject));
    json_object_set_new(o, "auth", text_or_null(e->auth));
    json_object_set_new(o, "scopes", text_or_null(e->scopes));
    json_object_set_new(o, "endpoint", text_or_null(e->endpoint));
    json_object_set_new(o, "model", text_or_null(e->model));
    json_object_set_new(o, "prompt_tokens", json_integer(e->prompt_tokens));
    json_object_set_new(o, "completion_tokens", json_integer(e->completion_tokens));
    json_object_set_new(o, "status", json_integer(e->status));
    json_object_set_new(o, "latency_ms", json_integer(e->latency_ms));
    if (content) {
        json_object_set_new(o, "prompt", text_or_null(e->prompt));
        json_object_set_new(o, "completion", text_or_null(e->completion));
    }
    return o;
}

static json_t *header_object(int64_t file_no, int64_t seq, const uint8_t prev[AUTH_HMAC_LEN]) {
    char when[32], hex[2 * AUTH_HMAC_LEN + 1];
    format_time(wall_ms(), when);
    auth_hex_encode(prev, AUTH_HMAC_LEN, hex);
    json_t *o = json_object();
    json_object_set_new(o, "r1_audit", json_integer(1));
    json_object_set_new(o, "file", json_integer(file_no));
    json_object_set_new(o, "seq", json_integer(seq));
    json_object_set_new(o, "prev", json_string(hex));
    json_object_set_new(o, "time", json_string(when));
    return o;
}

/* The full line for object o chained from prev: its canonical bytes, then
 * the hmac member and a newline. Consumes o. NULL on failure. */
static char *seal_line(const auth_hmac *mac, json_t *o, const uint8_t prev[AUTH_HMAC_LEN], uint8_t out_mac[AUTH_HMAC_LEN],
                       size_t *len) {
    char *json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!json) return NULL;
    size_t body = strlen(json) - 1; /* without the closing brace */
    char *line = NULL;
    if (auth_hmac_mac(mac, prev, AUTH_HMAC_LEN, json, body, out_mac) == 0 &&
        (line = malloc(body + AUDIT_SUFFIX_LEN + 2))) {
        memcpy(line, json, body);
        memcpy(line + body, AUDIT_SUFFIX_OPEN, 9);
        auth_hex_encode(out_mac, AUTH_HMAC_LEN, line + body + 9);
        memcpy(line + body + 9 + 2 * AUTH_HMAC_LEN, "\"}\n", 4);
        *len = body + AUDIT_SUFFIX_LEN + 1;
    }
    free(json);
    return line;
}

/* ---- files ---- */

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static void sync_dir_of(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

/* Reads [off, off + n) of fd into a new NUL-terminated buffer. */
static char *read_at(int fd, off_t off, size_t n) {
    char *buf = malloc(n + 1);
    if (!buf) return NULL;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got != n) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* The last complete line of a file of `size` bytes (without its newline)
 * into *line; *torn when bytes follow it without a newline. */
static int last_complete_line(int fd, uint64_t size, char **line, size_t *len, bool *torn) {
    size_t want = 65536;
    for (;;) {
        if (want > size) want = (size_t)size;
        char *buf = read_at(fd, (off_t)(size - want), want);
        if (!buf) return -1;
        char *end = memrchr(buf, '\n', want);
        char *start = end ? memrchr(buf, '\n', (size_t)(end - buf)) : NULL;
        if (start || (end && want == size)) {
            *torn = (size_t)(end - buf) + 1 != want;
            start = start ? start + 1 : buf;
            *len = (size_t)(end - start);
            memmove(buf, start, *len);
            buf[*len] = 0;
            *line = buf;
            return 0;
        }
        free(buf);
        if (want == size || want >= AUDIT_MAX_LINE) return -1;
        want *= 4;
    }
}

/* The first line of the file (its header). */
static int first_line(int fd, uint64_t size, char **line, size_t *len) {
    size_t want = size < 4096 ? (size_t)size : 4096;
    char *buf = read_at(fd, 0, want);
    char *nl = buf ? memchr(buf, '\n', want) : NULL;
    if (!nl) {
        free(buf);
        return -1;
    }
    *nl = 0;
    *len = (size_t)(nl - buf);
    *line = buf;
    return 0;
}

static int read_tail_fd(int fd, const char *path, tail_state *t, r1_error *err) {
    struct stat st;
    char *head = NULL, *last = NULL;
    size_t head_len = 0, last_len = 0, body = 0;
    audit_line_info hi, li;
    uint8_t mac[AUTH_HMAC_LEN];
    int rc = -1;
    if (fstat(fd, &st) != 0 || first_line(fd, (uint64_t)st.st_size, &head, &head_len) != 0 ||
        !audit_parse_line(head, head_len, &hi) || !hi.header)
        r1_error_set(err, "%s: not an r1 audit log (no header line); move it away to start a new log", path);
    else if (last_complete_line(fd, (uint64_t)st.st_size, &last, &last_len, &t->torn) != 0 ||
             !audit_split_line(last, last_len, &body, mac) || !audit_parse_line(last, last_len, &li))
        r1_error_set(err, "%s: its last complete line is not an audit line; move it away to start a new log", path);
    else {
        t->file_no = hi.file;
        t->next_seq = li.header ? li.seq : li.seq + 1;
        memcpy(t->last, mac, AUTH_HMAC_LEN);
        rc = 0;
    }
    free(head);
    free(last);
    return rc;
}

static int read_tail(const char *path, tail_state *t, r1_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return r1_error_set(err, "%s: %s", path, strerror(errno));
    int rc = read_tail_fd(fd, path, t, err);
    close(fd);
    return rc;
}

/* The highest N of the files PATH.N beside path (0 when there are none). */
static int64_t last_rotated(const char *path) {
    char *copy = strdup(path), *copy2 = strdup(path);
    int64_t best = 0;
    DIR *d = copy && copy2 ? opendir(dirname(copy)) : NULL;
    const char *base = copy2 ? basename(copy2) : "";
    size_t blen = strlen(base);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || n[blen] != '.' || !n[blen + 1]) continue;
        char *end;
        long long v = strtoll(n + blen + 1, &end, 10);
        if (*end == '\0' && v > best && n[blen + 1] >= '0' && n[blen + 1] <= '9') best = v;
    }
    if (d) closedir(d);
    free(copy);
    free(copy2);
    return best;
}

static void rotated_name(const char *path, int64_t file_no, char *out, size_t cap) {
    snprintf(out, cap, "%s.%06" PRId64, path, file_no);
}

/* ---- the writer ---- */

static int sync_now(audit_log *log) {
    log->unsynced = 0;
    return fdatasync(log->fd);
}

/* Starts a new current file: header chained from log->last. */
static int start_file(audit_log *log, r1_error *err) {
    int fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return r1_error_set(err, "%s: %s", log->path, strerror(errno));
    uint8_t mac[AUTH_HMAC_LEN];
    size_t len = 0;
    char *line = seal_line(log->mac, header_object(log->file_no, log->next_seq, log->last), log->last, mac, &len);
    if (!line || write_all(fd, line, len) != 0 || fdatasync(fd) != 0) {
        int e = errno;
        free(line);
        close(fd);
        unlink(log->path); /* no half header left behind */
        return r1_error_set(err, "%s: cannot write the header: %s", log->path, strerror(e));
    }
    free(line);
    sync_dir_of(log->path);
    log->fd = fd;
    log->size = len;
    log->records = 0;
    log->torn = false;
    memcpy(log->last, mac, AUTH_HMAC_LEN);
    return 0;
}

/* Moves the current file to PATH.NNNNNN (never over an existing file). */
static int retire_current(audit_log *log, r1_error *err) {
    char target[4096];
    rotated_name(log->path, log->file_no, target, sizeof target);
    if (link(log->path, target) != 0) return r1_error_set(err, "%s: %s", target, strerror(errno));
    if (unlink(log->path) != 0) return r1_error_set(err, "%s: %s", log->path, strerror(errno));
    sync_dir_of(log->path);
    return 0;
}

/* Retires the current file and starts the next. Until that succeeds the
 * log stays `torn`, so the next append tries again. */
static int rotate(audit_log *log, r1_error *err) {
    if (log->fd >= 0) {
        fdatasync(log->fd);
        close(log->fd);
        log->fd = -1;
    }
    log->torn = true;
    if (access(log->path, F_OK) == 0) {
        if (retire_current(log, err) != 0) return -1;
        log->file_no++;
    }
    return start_file(log, err);
}

/* Picks the chain up from the files on disk, or starts it. */
static int resume(audit_log *log, r1_error *err) {
    struct stat st;
    tail_state t = {.file_no = 0, .next_seq = 1};
    if (stat(log->path, &st) == 0 && st.st_size > 0) {
        if (read_tail(log->path, &t, err) != 0) return -1;
        memcpy(log->last, t.last, AUTH_HMAC_LEN);
        log->file_no = t.file_no;
        log->next_seq = t.next_seq;
        if (t.torn) return rotate(log, err);
        log->fd = open(log->path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (log->fd < 0) return r1_error_set(err, "%s: %s", log->path, strerror(errno));
        log->size = (uint64_t)st.st_size;
        log->records = 1; /* not empty: a rotation may happen before the next record */
        return 0;
    }
    int64_t n = last_rotated(log->path);
    if (n > 0) {
        char prev[4096];
        rotated_name(log->path, n, prev, sizeof prev);
        if (read_tail(prev, &t, err) != 0) return -1;
        memcpy(log->last, t.last, AUTH_HMAC_LEN);
    }
    log->file_no = t.file_no + 1;
    log->next_seq = t.next_seq;
    return start_file(log, err);
}

audit_log *audit_open(const audit_config *c, r1_error *err) {
    if (!c->path || !*c->path) return r1_error_set(err, "audit log: no path"), NULL;
    if (c->fsync == AUDIT_FSYNC_EVERY_N && c->fsync_every < 1) return r1_error_set(err, "audit log: fsync every N >= 1"), NULL;
    auth_secret key;
    if (auth_secret_read(c->key_file, AUDIT_KEY_MIN, &key, err) != 0) return r1_error_prefix(err, "audit key"), NULL;
    audit_log *log = calloc(1, sizeof *log);
    if (!log) {
        auth_secret_free(&key);
        return r1_error_set(err, "out of memory"), NULL;
    }
    pthread_mutex_init(&log->lock, NULL);
    log->fd = -1;
    log->path = strdup(c->path);
    log->fsync_policy = c->fsync;
    log->fsync_every = c->fsync_every;
    log->max_bytes = c->max_bytes;
    log->content = c->content;
    log->mac = auth_hmac_new(key.bytes, key.len, err);
    auth_secret_free(&key);
    if (!log->path || !log->mac || resume(log, err) != 0) {
        audit_close(log, NULL);
        return NULL;
    }
    return log;
}

static int append_locked(audit_log *log, const audit_entry *e, r1_error *err) {
    uint8_t mac[AUTH_HMAC_LEN];
    size_t len = 0;
    char *line = seal_line(log->mac, record_object(e, log->next_seq, log->content), log->last, mac, &len);
    if (!line) return r1_error_set(err, "audit log: cannot build the line");
    int rc = 0;
    bool full = log->max_bytes && log->records > 0 && log->size + len > log->max_bytes;
    if (log->torn || full) {
        /* the line was chained from log->last, which a new header replaces */
        free(line);
        if (rotate(log, err) != 0) return -1;
        return append_locked(log, e, err);
    }
    if (write_all(log->fd, line, len) != 0) {
        log->torn = true;
        rc = r1_error_set(err, "%s: write: %s", log->path, strerror(errno));
    } else {
        memcpy(log->last, mac, AUTH_HMAC_LEN);
        log->next_seq++;
        log->size += len;
        log->records++;
        log->unsynced++;
        bool due = log->fsync_policy == AUDIT_FSYNC_EVERY_LINE ||
                   (log->fsync_policy == AUDIT_FSYNC_EVERY_N && log->unsynced >= log->fsync_every);
        if (due && sync_now(log) != 0) rc = r1_error_set(err, "%s: fsync: %s", log->path, strerror(errno));
    }
    free(line);
    return rc;
}

int audit_append(audit_log *log, const audit_entry *e, r1_error *err) {
    pthread_mutex_lock(&log->lock);
    int rc = log->fd >= 0 || log->torn ? append_locked(log, e, err) : r1_error_set(err, "audit log is closed");
    pthread_mutex_unlock(&log->lock);
    return rc;
}

void audit_last_hmac(audit_log *log, char hex[65]) {
    pthread_mutex_lock(&log->lock);
    auth_hex_encode(log->last, AUTH_HMAC_LEN, hex);
    pthread_mutex_unlock(&log->lock);
}

int audit_close(audit_log *log, r1_error *err) {
    if (!log) return 0;
    int rc = 0;
    if (log->fd >= 0) {
        if (fdatasync(log->fd) != 0) rc = r1_error_set(err, "%s: fsync: %s", log->path, strerror(errno));
        close(log->fd);
    }
    auth_hmac_free(log->mac);
    pthread_mutex_destroy(&log->lock);
    free(log->path);
    free(log);
    return rc;
}
