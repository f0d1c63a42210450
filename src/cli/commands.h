/*
 * commands.h - the r1 sub-commands. Each takes the arguments after its
 * name and returns the process exit status.
 */
#ifndef R1_CLI_COMMANDS_H
#define R1_CLI_COMMANDS_H

#include "r1.h"

int cmd_serve(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_model(int argc, char **argv);
/* r1 model seal|open|verify|keygen (cmd_seal.c); -1 for another sub-command. */
int cmd_model_sealed(const char *sub, int argc, char **argv);
/* r1 model manifest|verify-manifest, and verify DIR (cmd_manifest.c); -1 otherwise. */
int cmd_model_manifest(const char *sub, int argc, char **argv);
/* r1 serve --verify full|fast: model against its manifest (r1.manifest
 * beside it, or manifest_path); 0, or -1 with err (cmd_manifest.c). */
int cli_verify_served_model(const char *model, const char *mode, const char *manifest_path, r1_error *err);
int cmd_bench(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_transcribe(int argc, char **argv);
int cmd_eval_whisper(int argc, char **argv);
int cmd_speak(int argc, char **argv);
int cmd_voice(int argc, char **argv);

/* Where a sealed model's key comes from; both NULL: R1_MODEL_KEY_FILE. */
typedef struct cli_key_options {
    const char *file;    /* --key-file FILE */
    const char *command; /* --key-command CMD */
} cli_key_options;

/* Recognises --key-file / --key-command (a) with its value v; true if matched. */
bool cli_key_option(const char *a, const char *v, cli_key_options *key);

/* Loads a model (plain, or sealed with the key from `key`) and makes a
 * context for it, printing any error. */
int cli_open_model(const char *path, r1_load_mode load, const cli_key_options *key, const r1_context_params *params,
                   r1_model **model, r1_context **ctx);

/* Recognises --mmap / --no-mmap (how to load the weights); true if a matched. */
bool cli_load_option(const char *a, r1_load_mode *load);

/* Feeds tokens at positions 0..n-1 of sequence 0 in one batch; every row
 * asks for logits when all_logits, else only the last. Prints any error
 * prefixed with `who`. */
int cli_feed_prompt(r1_context *ctx, const int32_t *tokens, int n, bool all_logits, const char *who);

/* Feeds one token at pos of sequence 0; prints any error. */
int cli_feed_token(r1_context *ctx, int32_t token, int32_t pos, const char *who);

/* Seconds from a monotonic clock. */
double cli_now(void);

#endif
