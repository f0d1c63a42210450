/*
 * main.c - the `r1` program: dispatches to a sub-command.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"serve", cmd_serve, "serve the OpenAI-compatible HTTP API (continuous batching, streaming, reasoning apart)"},
    {"top", cmd_top, "a terminal view of a running server's metrics (requests, tokens/s, queue, latency, KV)"},
    {"run", cmd_run, "generate text (or token ids) from a prompt"},
    {"chat", cmd_chat, "chat with a model: its chat template, reasoning shown apart, history"},
    {"eval", cmd_eval, "feed token ids, dump logits and greedy tokens (checks against references)"},
    {"bench", cmd_bench, "measure prefill, decode and batched decode speed against the memory-bandwidth floor"},
    {"model", cmd_model, "model files: gen (random weights of a real shape), info, seal/open/verify/keygen (encrypted)"},
    {"transcribe", cmd_transcribe, "speech to text with a Whisper model (any audio file; text, json, srt, vtt)"},
    {"speak", cmd_speak, "text to speech (English, Mandarin, mixed) to a file or the speaker"},
    {"voice", cmd_voice, "a spoken conversation: listen, transcribe, answer, speak (microphone or files)"},
    {"eval-whisper", cmd_eval_whisper, "a Whisper model's log-mel, encoder output and logits as raw float32 (checks)"},
    {"tokenize", cmd_tokenize, "text to token ids with a model's tokenizer (JSON out)"},
    {"detokenize", cmd_detokenize, "token ids to text with a model's tokenizer"},
    {"keys", cmd_keys, "API keys for --auth keys: create, list, revoke (SQLite; only salted hashes kept)"},
    {"audit", cmd_audit, "audit log: verify the hmac chain of its files and say where it breaks"},
};

static void usage(void) {
    fprintf(stderr, "r1 %s - serving DeepSeek-R1 models\n\nusage: r1 <command> [options]\n\n", r1_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(stderr, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(stderr, "\nr1 <command> --help shows a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("r1 %s (kernels: %s)\n", r1_version(), r1_kernel_isa());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "r1: unknown command '%s'\n\n", argv[1]);
    usage();
    return 2;
}
