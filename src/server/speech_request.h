/*
 * speech_request.h - the JSON body of POST /v1/audio/speech, read and
 * checked (OpenAI's fields: model, input, voice, response_format, speed,
 * stream_format; instructions refused). Kept apart from the HTTP code so
 * that unit tests and the fuzzer can call it with any bytes.
 */
#ifndef R1_SERVER_SPEECH_REQUEST_H
#define R1_SERVER_SPEECH_REQUEST_H

#include <stddef.h>

#include "server/api_request.h"

typedef struct speech_request {
    char *input;         /* malloc'd UTF-8, 1..max_chars characters */
    size_t input_chars;
    char voice[32];      /* one of r1_tts_voices() */
    char format[8];      /* wav, flac, opus or pcm */
    float speed;         /* 0.25..4 */
} speech_request;

/* 0 with *out filled (speech_request_free it), or -1 with *err (status 400
 * or 404, OpenAI's code and param) and *out zeroed. */
int speech_request_parse(const char *body, size_t len, int max_chars, speech_request *out, api_error *err);
void speech_request_free(speech_request *r);

#endif
