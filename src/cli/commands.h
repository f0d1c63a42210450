/*
 * commands.h - the r1 sub-commands. Each takes the arguments after its
 * name and returns the process exit status.
 */
#ifndef R1_CLI_COMMANDS_H
#define R1_CLI_COMMANDS_H

#include "r1.h"

int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Loads a model and makes a context for it, printing any error. */
int cli_open_model(const char *path, const r1_context_params *params, r1_model **model, r1_context **ctx);

/* Seconds from a monotonic clock. */
double cli_now(void);

#endif
