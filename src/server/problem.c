/* application/problem+json responses (RFC 9457). */
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *http_reason(int status)
{
    return MHD_get_reason_phrase_for((unsigned)status);
}

/* What a problem degrades to when even building it runs out of memory. */
static const char oom_problem[] =
    "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500,"
    "\"detail\":\"the server ran out of memory; retry later\"}";

static void problem(http_resp *resp, int status, const char *field, const char *fmt, va_list ap)
{
    char detail[1024];
    vsnprintf(detail, sizeof detail, fmt, ap);
    http_resp_clear(resp);

    char *text = NULL;
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddStringToObject(o, "type", "about:blank") &&
        cJSON_AddStringToObject(o, "title", http_reason(status)) &&
        cJSON_AddNumberToObject(o, "status", status) &&
        cJSON_AddStringToObject(o, "detail", detail) &&
        (!field || cJSON_AddStringToObject(o, "field", field)))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);

    resp->kind = RESP_BYTES;
    strcpy(resp->content_type, "application/problem+json");
    if (text) {
        resp->status = status;
        resp->body = text;
        resp->len = strlen(text);
        resp->body_free = cJSON_free;
    } else {
        resp->status = 500;
        resp->body = (void *)oom_problem;
        resp->len = sizeof oom_problem - 1;
    }
}

void http_problem(http_resp *resp, int status, const char *detail_fmt, ...)
{
    va_list ap;
    va_start(ap, detail_fmt);
    problem(resp, status, NULL, detail_fmt, ap);
    va_end(ap);
}

void http_problem_field(http_resp *resp, int status, const char *field, const char *detail_fmt,
                        ...)
{
    va_list ap;
    va_start(ap, detail_fmt);
    problem(resp, status, field, detail_fmt, ap);
    va_end(ap);
}
