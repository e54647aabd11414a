/* Responses: bodies in memory, files, headers, ETags. */
#include "internal.h"

#include "gand/alloc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void http_resp_init(http_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->fd = -1;
}

void http_resp_drop_body(http_resp *resp)
{
    if (resp->body_free)
        resp->body_free(resp->body);
    if (resp->fd >= 0)
        close(resp->fd);
    http_sse_sub_free(resp->stream);
    resp->body = NULL;
    resp->body_free = NULL;
    resp->len = 0;
    resp->fd = -1;
    resp->fd_size = 0;
    resp->stream = NULL;
    resp->kind = RESP_NONE;
    resp->content_type[0] = '\0';
}

void http_resp_clear(http_resp *resp)
{
    http_resp_drop_body(resp);
    for (int i = 0; i < resp->nheaders; i++) {
        gand_free(resp->headers[i].name);
        gand_free(resp->headers[i].value);
    }
    http_resp_init(resp);
}

http_resp *http_resp_create(void)
{
    http_resp *resp = gand_malloc(sizeof *resp);
    if (resp)
        http_resp_init(resp);
    return resp;
}

void http_resp_free(http_resp *resp)
{
    if (!resp)
        return;
    http_resp_clear(resp);
    gand_free(resp);
}

int http_resp_status(const http_resp *resp) { return resp->status; }
const char *http_resp_content_type(const http_resp *resp) { return resp->content_type; }
bool http_resp_is_file(const http_resp *resp) { return resp->kind == RESP_FILE; }
bool http_resp_is_stream(const http_resp *resp) { return resp->kind == RESP_STREAM; }

const void *http_resp_body(const http_resp *resp, size_t *len)
{
    bool bytes = resp->kind == RESP_BYTES;
    if (len)
        *len = bytes ? resp->len : 0;
    return bytes ? resp->body : NULL;
}

const char *http_resp_header(const http_resp *resp, const char *name)
{
    for (int i = 0; i < resp->nheaders; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

gand_status http_resp_add_header(http_resp *resp, const char *name, const char *value)
{
    if (!*name || strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n"))
        return GAND_EINVAL;
    if (resp->nheaders == HTTP_RESP_MAX_HEADERS)
        return GAND_ERANGE;
    char *n = gand_strdup(name), *v = gand_strdup(value);
    if (!n || !v) {
        gand_free(n);
        gand_free(v);
        return GAND_ENOMEM;
    }
    resp->headers[resp->nheaders++] = (http_kv){n, v};
    return GAND_OK;
}

static void set_content_type(http_resp *resp, const char *ct)
{
    size_t n = strlen(ct);
    if (n >= sizeof resp->content_type)
        n = sizeof resp->content_type - 1;
    memcpy(resp->content_type, ct, n);
    resp->content_type[n] = '\0';
}

gand_status http_send(http_resp *resp, int status, const char *content_type, const void *body,
                      size_t len, http_body_mode mode)
{
    http_resp_drop_body(resp);
    void *bytes = (void *)body;
    void (*release)(void *) = NULL;
    if (mode == HTTP_BODY_TAKE) {
        release = gand_free;
    } else if (mode == HTTP_BODY_COPY) {
        bytes = gand_malloc(len ? len : 1);
        if (!bytes) {
            http_problem(resp, 500, "the server ran out of memory; retry later");
            return GAND_ENOMEM;
        }
        memcpy(bytes, body, len);
        release = gand_free;
    }
    resp->status = status;
    resp->kind = RESP_BYTES;
    resp->body = bytes;
    resp->len = len;
    resp->body_free = release;
    set_content_type(resp, content_type ? content_type : "application/octet-stream");
    return GAND_OK;
}

gand_status http_json(http_resp *resp, int status, const struct cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    if (!text) {
        http_problem(resp, 500, "the server ran out of memory; retry later");
        return GAND_ENOMEM;
    }
    http_resp_drop_body(resp);
    resp->status = status;
    resp->kind = RESP_BYTES;
    resp->body = text;
    resp->len = strlen(text);
    resp->body_free = cJSON_free;
    set_content_type(resp, "application/json");
    return GAND_OK;
}

gand_status http_file(http_resp *resp, const char *path, const char *content_type)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? GAND_ENOTFOUND : GAND_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return GAND_ENOTFOUND;
    }
    http_resp_drop_body(resp);
    resp->status = 200;
    resp->kind = RESP_FILE;
    resp->fd = fd;
    resp->fd_size = (uint64_t)st.st_size;
    set_content_type(resp, content_type ? content_type : http_content_type_for(path));
    return GAND_OK;
}

/* Whether the If-None-Match list (comma-separated entity tags, weak ones
 * compared weakly as RFC 9110 asks for this header) names etag. */
static bool etag_listed(const char *list, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = list;
    while (*p) {
        p += strspn(p, " \t,");
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t > 0 && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t == elen && memcmp(p, etag, elen) == 0)
            return true;
        p += n;
    }
    return false;
}

bool http_etag(const http_req *req, http_resp *resp, const char *tag)
{
    char etag[160];
    snprintf(etag, sizeof etag, "\"%s\"", tag);
    http_resp_add_header(resp, "ETag", etag);
    const char *inm = http_req_header(req, "If-None-Match");
    if (!inm || !etag_listed(inm, etag))
        return false;
    http_resp_drop_body(resp);
    resp->status = 304;
    resp->kind = RESP_BYTES;
    resp->body = "";
    return true;
}

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"png", "image/png"},
    {"svg", "image/svg+xml"},
    {"ico", "image/vnd.microsoft.icon"},
    {"txt", "text/plain; charset=utf-8"},
    {"woff2", "font/woff2"},
};

const char *http_content_type_for(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof content_types / sizeof content_types[0]; i++)
            if (strcasecmp(dot + 1, content_types[i].ext) == 0)
                return content_types[i].type;
    return "application/octet-stream";
}
