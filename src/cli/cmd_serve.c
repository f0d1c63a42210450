/*
 * cmd_serve.c - `r1 serve`: the settings of the server from, in rising
 * order of precedence, the defaults, a config file (--config FILE, INI), the
 * environment (R1_<OPTION>, e.g. R1_PORT, R1_CTX_SIZE) and the flags.
 * docs/SERVER.md lists them all.
 */
#include <ini.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "server/server.h"

typedef enum option_type { OPT_STRING, OPT_INT, OPT_SIZE, OPT_BOOL, OPT_LOG_FORMAT } option_type;

typedef struct option {
    const char *name;      /* flag without "--"; the INI key; R1_ + upper-case with '_' for the environment */
    const char *short_flag;
    option_type type;
    size_t offset;         /* in r1_server_config */
    long min, max;
    const char *help;
} option;

#define AT(field) offsetof(r1_server_config, field)

static const option options[] = {
    {"model", "-m", OPT_STRING, AT(model_path), 0, 0, "GGUF model file (required)"},
    {"host", NULL, OPT_STRING, AT(host), 0, 0, "address to listen on (default 127.0.0.1; 0.0.0.0 or :: for all)"},
    {"port", NULL, OPT_INT, AT(port), 0, 65535, "port (default 8080; 0: any free port)"},
    {"metrics-port", NULL, OPT_INT, AT(metrics_port), -1, 65535, "also serve GET /metrics alone on this port (default -1: off)"},
    {"alias", NULL, OPT_STRING, AT(alias), 0, 0, "the model's name in the API (default: file name)"},
    {"threads", "-t", OPT_INT, AT(n_threads), 0, 1024, "compute threads (default: one per core)"},
    {"http-threads", NULL, OPT_INT, AT(n_http_threads), 1, 256, "HTTP threads (default 4)"},
    {"parallel", NULL, OPT_INT, AT(n_parallel), 1, 1024, "sequences decoded together (default 32)"},
    {"ctx-size", "-c", OPT_INT, AT(ctx_size), 0, 1 << 24, "positions per request, prompt + answer (default min(4096, trained))"},
    {"kv-cache-tokens", NULL, OPT_INT, AT(kv_cache_tokens), 0, 1 << 30, "KV cache size in positions (default parallel x ctx-size)"},
    {"queue", NULL, OPT_INT, AT(queue), 0, 1 << 20, "requests that may wait once every sequence is taken (default 256; 0: none); more get 503"},
    {"batch-size", "-b", OPT_INT, AT(n_batch), 1, 1 << 16, "most rows per engine step (default 512)"},
    {"prefill-chunk", NULL, OPT_INT, AT(prefill_chunk), 1, 1 << 16, "prompt rows per step while others decode (default 128)"},
    {"exact", NULL, OPT_BOOL, AT(exact), 0, 0, "float activations: slower, identical results in any batch"},
    {"kv-type", NULL, OPT_STRING, AT(kv_type), 0, 0, "auto, f16 or f32: how the KV cache stores keys and values (auto: f16; f32 with --exact)"},
    {"key-file", NULL, OPT_STRING, AT(model_key_file), 0, 0, "a sealed model's key file (or R1_MODEL_KEY_FILE)"},
    {"key-command", NULL, OPT_STRING, AT(model_key_command), 0, 0, "a command that prints a sealed model's key (KMS)"},
    {"load", NULL, OPT_STRING, AT(load_mode), 0, 0, "auto, mmap or copy: where the weights live"},
    {"chat-template", NULL, OPT_STRING, AT(chat_template), 0, 0, "deepseek-r1, chatml or llama3 (default: from the model)"},
    {"max-body-bytes", NULL, OPT_SIZE, AT(max_body_bytes), 1, 1L << 40, "larger request bodies get 413 (default 4194304)"},
    {"max-connections", NULL, OPT_INT, AT(max_connections), 1, 1 << 20, "open connections (default 1024)"},
    {"max-connections-per-ip", NULL, OPT_INT, AT(max_connections_per_ip), 0, 1 << 20, "per client address (default 0: no limit)"},
    {"idle-timeout", NULL, OPT_INT, AT(idle_timeout_s), 1, 86400, "seconds before a silent connection is closed (default 120)"},
    {"drain-timeout", NULL, OPT_INT, AT(drain_timeout_s), 0, 86400, "seconds SIGTERM waits for running requests (default 60)"},
    {"retry-after", NULL, OPT_INT, AT(retry_after_s), 0, 3600, "Retry-After seconds of a 503 (default 2)"},
    {"log-format", NULL, OPT_LOG_FORMAT, AT(log_json), 0, 0, "text or json (JSON lines)"},
    {"auth", NULL, OPT_STRING, AT(auth), 0, 0, "none, jwt or keys: who may call (docs/SECURITY.md)"},
    {"jwks", NULL, OPT_STRING, AT(jwks), 0, 0, "--auth jwt: JWKS file of the token issuer's public keys"},
    {"jwt-issuer", NULL, OPT_STRING, AT(jwt_issuer), 0, 0, "--auth jwt: required iss"},
    {"jwt-audience", NULL, OPT_STRING, AT(jwt_audience), 0, 0, "--auth jwt: required aud"},
    {"jwt-leeway", NULL, OPT_INT, AT(jwt_leeway_s), 0, 3600, "--auth jwt: clock skew allowed, seconds (default 30)"},
    {"jwt-hs256-secret", NULL, OPT_STRING, AT(jwt_hs256_secret), 0, 0, "--auth jwt: also accept HS256 signed with this file's secret"},
    {"keys-db", NULL, OPT_STRING, AT(keys_db), 0, 0, "--auth keys: the key store made by r1 keys (default ./r1-keys.db)"},
    {"rate-requests", NULL, OPT_INT, AT(rate_requests_per_min), 0, 1 << 30, "requests per minute per caller (default 0: none)"},
    {"rate-tokens-min", NULL, OPT_INT, AT(rate_tokens_per_min), 0, 1 << 30, "tokens per minute per caller (default 0: none)"},
    {"rate-tokens-day", NULL, OPT_INT, AT(rate_tokens_per_day), 0, 1 << 30, "tokens per day per caller (default 0: none)"},
    {"rate-concurrent", NULL, OPT_INT, AT(rate_concurrent), 0, 1 << 20, "requests at once per caller (default 0: none)"},
    {"rate-scope", NULL, OPT_STRING, AT(rate_scope), 0, 0, "requests per minute per caller for a scope's endpoints: audio.speech=30,chat=600"},
    {"audit-log", NULL, OPT_STRING, AT(audit_log), 0, 0, "write the tamper-evident audit log here"},
    {"audit-key-file", NULL, OPT_STRING, AT(audit_key_file), 0, 0, "the audit log's HMAC key (>= 32 bytes)"},
    {"audit-content", NULL, OPT_BOOL, AT(audit_content), 0, 0, "put prompts and answers in the audit log"},
    {"audit-fsync-every", NULL, OPT_INT, AT(audit_fsync_every), 0, 1 << 20, "fsync the audit log every N lines (default 1; 0: never)"},
    {"audit-max-bytes", NULL, OPT_SIZE, AT(audit_max_bytes), 0, 1L << 40, "rotate the audit log past this size (default 256 MiB)"},
    {"tls-cert", NULL, OPT_STRING, AT(tls_cert), 0, 0, "serve HTTPS (TLS 1.3 only) with this PEM certificate chain"},
    {"tls-key", NULL, OPT_STRING, AT(tls_key), 0, 0, "its PEM private key"},
    {"tls-client-ca", NULL, OPT_STRING, AT(tls_client_ca), 0, 0, "require client certificates signed by this PEM CA (mTLS)"},
    {"whisper-model", NULL, OPT_STRING, AT(whisper_model), 0, 0, "ggml Whisper .bin: serve /v1/audio/transcriptions and /translations"},
    {"vad-model", NULL, OPT_STRING, AT(vad_model), 0, 0, "Silero VAD ggml .bin (default: energy-based) for uploads sent with vad=true"},
    {"asr-queue", NULL, OPT_INT, AT(asr_queue), 0, 1 << 16, "uploads that may wait for the speech worker (default 8); more get 503"},
    {"max-audio-bytes", NULL, OPT_SIZE, AT(max_audio_bytes), 1, 1L << 40, "larger audio uploads get 413 (default 25 MiB)"},
    {"audio-decoder", NULL, OPT_STRING, AT(audio_decoder), 0, 0, "the r1-audio-decoder program, run for each audio upload (default: beside r1, else on $PATH)"},
    {"tts-workers", NULL, OPT_INT, AT(tts_workers), 0, 64, "speech synthesis processes for /v1/audio/speech (default 1; 0: off)"},
    {"tts-queue", NULL, OPT_INT, AT(tts_queue), 0, 1 << 16, "texts that may wait for a synthesis process (default 16); more get 503"},
    {"max-speech-chars", NULL, OPT_INT, AT(max_speech_chars), 1, 1 << 20, "longest /v1/audio/speech input in characters (default 4096)"},
    {"tts-worker", NULL, OPT_STRING, AT(tts_worker), 0, 0, "the r1-tts-worker program (default: beside r1, else on $PATH)"},
    {"verify", NULL, OPT_STRING, AT(verify), 0, 0, "check the model against its SHA-256 manifest while loading: full, fast or off (default)"},
    {"manifest", NULL, OPT_STRING, AT(manifest), 0, 0, "the manifest for --verify (default: r1.manifest beside the model)"},
    {"log-prompts", NULL, OPT_BOOL, AT(log_prompts), 0, 0, "log each request's prompt text (default off: prompts are private)"},
};

/* Strings from the config file and the environment live until exit. */
typedef struct settings {
    r1_server_config config;
    char *owned[64];
    int n_owned;
} settings;

static const option *find_option(const char *name) {
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strcmp(options[i].name, name) == 0) return &options[i];
    return NULL;
}

static int set_option(settings *s, const option *o, const char *value, const char *where) {
    char *field = (char *)&s->config + o->offset;
    char label[160];
    snprintf(label, sizeof label, "%s (%s)", o->name, where);
    switch (o->type) {
    case OPT_STRING: {
        if (s->n_owned == 64) return -1;
        char *copy = strdup(value);
        if (!copy) return -1;
        s->owned[s->n_owned++] = copy;
        *(const char **)field = copy;
        return 0;
    }
    case OPT_INT: return arg_int(label, value, o->min, o->max, (int *)field);
    case OPT_SIZE: {
        uint64_t v;
        if (arg_u64(label, value, &v) != 0 || v < (uint64_t)o->min || v > (uint64_t)o->max) return -1;
        *(size_t *)field = (size_t)v;
        return 0;
    }
    case OPT_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0) *(bool *)field = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0) *(bool *)field = false;
        else return fprintf(stderr, "r1: %s expects true or false, got '%s'\n", label, value), -1;
        return 0;
    case OPT_LOG_FORMAT:
        if (strcmp(value, "json") != 0 && strcmp(value, "text") != 0)
            return fprintf(stderr, "r1: %s expects text or json, got '%s'\n", label, value), -1;
        *(bool *)field = strcmp(value, "json") == 0;
        return 0;
    }
    return -1;
}

/* ---- the three sources ---- */

static int on_ini_entry(void *user, const char *section, const char *name, const char *value) {
    settings *s = user;
    if (*section && strcmp(section, "server") != 0) return 1; /* other sections belong to other commands */
    const option *o = find_option(name);
    if (!o) {
        fprintf(stderr, "r1: config file: unknown setting '%s'\n", name);
        return 0;
    }
    return set_option(s, o, value, "config file") == 0;
}

static int read_config_file(settings *s, const char *path) {
    int line = ini_parse(path, on_ini_entry, s);
    if (line < 0) return fprintf(stderr, "r1: cannot read the config file %s\n", path), -1;
    if (line > 0) return fprintf(stderr, "r1: config file %s: error at line %d\n", path, line), -1;
    return 0;
}

static int read_environment(settings *s) {
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        char name[64] = "R1_";
        size_t n = 3;
        for (const char *p = options[i].name; *p && n < sizeof name - 1; p++)
            name[n++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        name[n] = '\0';
        const char *value = getenv(name);
        if (value && set_option(s, &options[i], value, name) != 0) return -1;
    }
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: r1 serve -m MODEL.gguf [options]\n\n"
                    "Serves the OpenAI-compatible API (docs/SERVER.md). Settings come from --config FILE\n"
                    "(INI, section [server], keys as below), the environment (R1_PORT, R1_CTX_SIZE, ...)\n"
                    "and the flags, which win.\n\n");
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        const option *o = &options[i];
        char flag[64];
        snprintf(flag, sizeof flag, "%s%s--%s", o->short_flag ? o->short_flag : "", o->short_flag ? ", " : "", o->name);
        fprintf(stderr, "  %-26s %s\n", flag, o->help);
    }
    fprintf(stderr, "  %-26s %s\n", "--config FILE", "read settings from an INI file first");
}

/* Flags: `--name value`, `-x value`, `--name=value`; a bool flag alone means true. */
static int read_flags(settings *s, int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *inline_value = NULL;
        char name[64];
        if (strcmp(a, "--config") == 0) { i++; continue; } /* read first, in cmd_serve */
        const option *o = NULL;
        for (size_t k = 0; k < sizeof options / sizeof options[0] && !o; k++)
            if (options[k].short_flag && strcmp(a, options[k].short_flag) == 0) o = &options[k];
        if (!o && strncmp(a, "--", 2) == 0) {
            const char *eq = strchr(a, '=');
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            snprintf(name, sizeof name, "%.*s", (int)n, a + 2);
            o = find_option(name);
            inline_value = eq ? eq + 1 : NULL;
        }
        if (!o) return fprintf(stderr, "r1 serve: unknown option '%s' (r1 serve --help lists them)\n", a), -1;
        const char *value = inline_value;
        if (!value && o->type == OPT_BOOL) value = "true";
        if (!value && !(value = arg_value(argc, argv, &i))) return -1;
        if (set_option(s, o, value, "flag") != 0) return -1;
    }
    return 0;
}

int cmd_serve(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return usage(), 0;
    settings s = {.config = r1_server_default_config()};
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++)
        if (strcmp(argv[i], "--config") == 0) rc = i + 1 < argc ? read_config_file(&s, argv[i + 1]) : -1;
    if (rc == 0) rc = read_environment(&s);
    if (rc == 0) rc = read_flags(&s, argc, argv);
    if (rc == 0 && !s.config.model_path) {
        fprintf(stderr, "r1 serve: no model: give -m MODEL.gguf\n\n");
        usage();
        rc = -1;
    }
    if (rc == 0 && strcmp(s.config.load_mode, "auto") != 0 && strcmp(s.config.load_mode, "mmap") != 0 &&
        strcmp(s.config.load_mode, "copy") != 0) {
        fprintf(stderr, "r1 serve: --load expects auto, mmap or copy, got '%s'\n", s.config.load_mode);
        rc = -1;
    }
    r1_kv_type kv_type;
    if (rc == 0 && arg_kv_type("--kv-type", s.config.kv_type, &kv_type) != 0) rc = -1;
    const char *verify = s.config.verify;
    if (rc == 0 && verify && strcmp(verify, "full") != 0 && strcmp(verify, "fast") != 0 && strcmp(verify, "off") != 0) {
        fprintf(stderr, "r1 serve: --verify expects full, fast or off, got '%s'\n", verify);
        rc = -1;
    }
    s.config.verify_model = cli_verify_served_model;
    int status = rc == 0 ? r1_server_run(&s.config) : 2;
    for (int i = 0; i < s.n_owned; i++) free(s.owned[i]);
    return status;
}
