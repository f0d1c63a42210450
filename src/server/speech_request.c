/*
 * speech_request.c - the body of POST /v1/audio/speech (speech_request.h).
 *
 * Fields are checked in the order a reader of the error would fix them:
 * the JSON itself, the model, the text, the voice, then the options.
 * jansson refuses invalid UTF-8 and \u0000 in strings, so input is text a
 * C string holds whole.
 */
#include "server/speech_request.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio_encode.h"
#include "r1.h"

static size_t utf8_chars(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* OpenAI's model names (one voice engine behind all) and our own. */
static bool known_model(const char *m) {
    return !strcmp(m, "tts-1") || !strcmp(m, "tts-1-hd") || !strcmp(m, "gpt-4o-mini-tts") || !strcmp(m, "espeak-ng");
}

static int refuse(api_error *err, int status, const char *code, const char *param, const char *message,
                  const char *arg) {
    return api_error_set(err, status, "invalid_request_error", code, param, message, arg);
}

/* The fields after model, input and voice; 0 or -1 with err. */
static int check_options(json_t *root, const char *format, double speed, const char *stream_format, api_error *err) {
    if (!strcmp(format, "mp3") || !strcmp(format, "aac"))
        return refuse(err, 400, "unsupported_value", "response_format",
                      "response_format %s is not available here (no patent-free encoder in Debian 12's libraries): "
                      "use wav, flac, opus or pcm", format);
    if (!audio_format_known(format) || !strcmp(format, "ogg"))
        return refuse(err, 400, "invalid_value", "response_format",
                      "response_format must be wav, flac, opus or pcm (got %s)", format);
    if (!(speed >= 0.25 && speed <= 4.0))
        return refuse(err, 400, "invalid_value", "speed", "%s", "speed must be a number in 0.25..4");
    if (strcmp(stream_format, "audio") != 0)
        return refuse(err, 400, "unsupported_value", "stream_format", "%s",
                      "stream_format must be audio (the audio itself is streamed; sse is not offered)");
    if (json_object_get(root, "instructions"))
        return refuse(err, 400, "unsupported_parameter", "instructions", "%s",
                      "instructions are not supported by this voice engine (espeak-ng)");
    return 0;
}

static int parse_object(json_t *root, int max_chars, speech_request *out, api_error *err) {
    json_error_t jerr;
    const char *model, *input, *voice, *format = "wav", *stream_format = "audio";
    double speed = 1.0;
    if (json_unpack_ex(root, &jerr, 0, "{s:s}", "model", &model) != 0)
        return refuse(err, 400, "missing_required_parameter", "model", "%s", "model must be a string (e.g. tts-1)");
    if (!known_model(model))
        return refuse(err, 404, "model_not_found", "model",
                      "The model '%s' does not exist; say tts-1, tts-1-hd, gpt-4o-mini-tts or espeak-ng", model);
    if (json_unpack_ex(root, &jerr, 0, "{s:s}", "input", &input) != 0)
        return refuse(err, 400, "missing_required_parameter", "input", "%s", "input must be a string: the text to speak");
    if (json_unpack_ex(root, &jerr, 0, "{s:s}", "voice", &voice) != 0)
        return refuse(err, 400, "missing_required_parameter", "voice", "%s", "voice must be a string (e.g. alloy)");
    if (json_unpack_ex(root, &jerr, 0, "{s?s s?F s?s}", "response_format", &format, "speed", &speed, "stream_format",
                       &stream_format) != 0)
        return refuse(err, 400, "invalid_type", NULL, "%s", jerr.text);
    size_t chars = utf8_chars(input);
    if (chars == 0 || chars > (size_t)max_chars)
        return api_error_set(err, 400, "invalid_request_error", "invalid_value", "input",
                             "input must be 1 to %d characters (got %zu)", max_chars, chars);
    if (!r1_tts_voice_known(voice))
        return refuse(err, 400, "invalid_value", "voice",
                      "unknown voice '%.40s' (alloy, ash, ballad, coral, echo, fable, nova, onyx, sage, shimmer, verse)",
                      voice);
    if (check_options(root, format, speed, stream_format, err) != 0) return -1;
    if (!(out->input = strdup(input)))
        return api_error_set(err, 500, "server_error", "out_of_memory", NULL, "out of memory");
    out->input_chars = chars;
    snprintf(out->voice, sizeof out->voice, "%s", voice);
    snprintf(out->format, sizeof out->format, "%s", format);
    out->speed = (float)speed;
    return 0;
}

int speech_request_parse(const char *body, size_t len, int max_chars, speech_request *out, api_error *err) {
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = json_is_object(root) ? parse_object(root, max_chars, out, err)
                                  : refuse(err, 400, "invalid_json", NULL, "the body must be a JSON object (%s)",
                                           root ? "not an object" : jerr.text);
    json_decref(root);
    if (rc != 0) speech_request_free(out);
    return rc;
}

void speech_request_free(speech_request *r) {
    free(r->input);
    memset(r, 0, sizeof *r);
}
