/* JSON request bodies, with errors that point at the mistake. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Describes where parsing stopped: line and column (1-based, in bytes) and
 * the text of that line up to a little past it. cJSON puts some errors one
 * byte past the fault (after a bad name) and clamps errors at the end to
 * the last byte, so the text before the position is the useful part. Only
 * printable ASCII is shown, so the message stays one line. */
static void where(const char *text, size_t len, size_t off, char *buf, size_t n)
{
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < off && i < len; i++)
        if (text[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    size_t from = off - line_start > 16 ? off - 16 : line_start;
    char near[32];
    size_t k = 0;
    for (size_t i = from; i < len && i < off + 8 && text[i] != '\n' && k < sizeof near - 1; i++)
        near[k++] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
    near[k] = '\0';
    snprintf(buf, n, "at line %zu, column %zu (byte %zu), near '%s': check the syntax there "
             "(a missing comma or quote, a trailing comma, an unquoted name%s)", line,
             off - line_start + 1, off, near,
             off + 1 >= len ? ", or text cut short before its closing brace or bracket" : "");
}

gand_status http_json_parse(const char *text, size_t len, struct cJSON **out, char *err,
                            size_t errlen)
{
    *out = NULL;
    size_t start = 0;
    while (start < len && is_space(text[start]))
        start++;
    if (start == len)
        return gand_errorf(err, errlen, GAND_EFORMAT, "no JSON value: the text is empty");
    const char *end = NULL;
    /* return_parse_end rather than cJSON_GetErrorPtr: the latter is one
     * global shared by every thread. */
    cJSON *json = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    char pos[320];
    if (!json) {
        where(text, len, end ? (size_t)(end - text) : 0, pos, sizeof pos);
        return gand_errorf(err, errlen, GAND_EFORMAT, "malformed JSON %s", pos);
    }
    size_t off = (size_t)(end - text);
    while (off < len && is_space(text[off]))
        off++;
    if (off < len) {
        cJSON_Delete(json);
        where(text, len, off, pos, sizeof pos);
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "unexpected text after the JSON value %s; send one value", pos);
    }
    *out = json;
    return GAND_OK;
}

/* The media types a JSON body may come with. Form encoding is there
 * because `curl -d @job.json` labels its body so; multipart (curl -F) and
 * the rest are refused since their bodies are not the JSON itself. */
static bool json_content_type(const char *ct)
{
    static const char *const ok[] = {"application/json", "text/plain",
                                     "application/x-www-form-urlencoded"};
    size_t n = strcspn(ct, ";");
    while (n > 0 && is_space(ct[n - 1]))
        n--;
    while (n > 0 && is_space(*ct)) {
        ct++;
        n--;
    }
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strlen(ok[i]) == n && strncasecmp(ct, ok[i], n) == 0)
            return true;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + n - 5, "+json", 5) == 0;
}

gand_status http_req_json(const http_req *req, http_resp *resp, struct cJSON **out)
{
    *out = NULL;
    const char *ct = http_req_header(req, "Content-Type");
    if (ct && !json_content_type(ct)) {
        http_problem(resp, 415,
                     "a body of type '%.80s' cannot be read as JSON: send the JSON document "
                     "itself as the body with Content-Type: application/json "
                     "(curl -H 'Content-Type: application/json' -d @job.json)",
                     ct);
        return GAND_EINVAL;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    if (len == 0) {
        http_problem(resp, 400, "the request body is empty: send a JSON object "
                                "(curl -d @job.json)");
        return GAND_EINVAL;
    }
    char err[480];
    gand_status s = http_json_parse(body, len, out, err, sizeof err);
    if (s == GAND_EFORMAT) {
        http_problem(resp, 400, "the request body is not valid JSON: %s", err);
        return GAND_EINVAL;
    }
    if (s != GAND_OK) {
        http_problem(resp, 500, "the server ran out of memory; retry later");
        return s;
    }
    return GAND_OK;
}
