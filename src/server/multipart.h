/*
 * multipart.h - reading a multipart/form-data request body (RFC 7578), as
 * POST /v1/audio/transcriptions receives it: the audio file and the form
 * fields (model, language, response_format, timestamp_granularities[], ...).
 *
 * The whole body is already in memory (the server bounds its size), so the
 * parser works in one pass over it: each part's data points into the body
 * (no copy); its name, filename and content type are copied into one
 * storage block owned by the form.
 *
 * What is accepted:
 * - CRLF line ends, and bare LF as well (hand-written clients and scripts
 *   send them; curl, browsers, the OpenAI SDKs send CRLF). The CR before a
 *   delimiter is taken off the data only when it is there.
 * - A preamble before the first delimiter and an epilogue after the closing
 *   one (both ignored); spaces or tabs after a delimiter (RFC 2046 padding).
 *   "--boundary" followed by anything else is data, not a delimiter.
 * - Content-Disposition: form-data; name="x"; filename="a.wav", parameters
 *   as tokens or quoted strings (backslash escapes a character, so
 *   "a\"b" is a"b). filename*= and any other parameter are ignored, as
 *   RFC 7578 tells senders not to use them; percent-encoding is not
 *   decoded. Header names are case-insensitive; headers other than
 *   Content-Disposition and Content-Type are ignored.
 * What is refused, with a message naming the part (counted from 1):
 * a missing boundary or closing boundary, more than MULTIPART_MAX_PARTS
 * parts, a header block over MULTIPART_MAX_HEADER_BYTES, a part without a
 * Content-Disposition header or name, duplicated headers or parameters,
 * control characters in headers, folded header lines.
 */
#ifndef R1_SERVER_MULTIPART_H
#define R1_SERVER_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define MULTIPART_MAX_PARTS 64
#define MULTIPART_MAX_HEADER_BYTES 8192 /* one part's header lines together */
#define MULTIPART_MAX_BOUNDARY 70       /* RFC 2046 */

typedef struct multipart_part {
    const char *name;         /* the form field's name (may be "") */
    const char *filename;     /* NULL when the part has none */
    const char *content_type; /* NULL when the part has none */
    const uint8_t *data;      /* points into the body given to multipart_parse */
    size_t size;
} multipart_part;

typedef struct multipart_form {
    multipart_part *parts;
    int n_parts;
    char *storage; /* the copied strings */
} multipart_form;

/* The boundary parameter of a request's Content-Type header value, e.g.
 * `multipart/form-data; boundary=xyz` or `...; boundary="a b"`, into
 * boundary (cap bytes, MULTIPART_MAX_BOUNDARY + 1 is always enough). Fails
 * when the media type is not multipart/form-data, when there is no
 * boundary, or when it is empty, longer than 70 characters, ends in a space
 * or holds characters outside printable ASCII. */
int multipart_boundary_from_content_type(const char *content_type, char *boundary, size_t cap, r1_error *err);

/* Splits body into its parts. On success *out owns the parts (free with
 * multipart_form_free; the data pointers stay valid as long as body does).
 * On failure *out is empty and err says what is wrong. */
int multipart_parse(const uint8_t *body, size_t size, const char *boundary, multipart_form *out, r1_error *err);

/* The first part with this name, or NULL. */
const multipart_part *multipart_find(const multipart_form *f, const char *name);

/* Every part with this name, in body order (e.g. "timestamp_granularities[]"
 * sent twice): stores up to cap of them in out and returns how many there
 * are in all. */
int multipart_find_all(const multipart_form *f, const char *name, const multipart_part **out, int cap);

void multipart_form_free(multipart_form *f);

#endif
