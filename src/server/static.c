/* Static files from one root directory, for the monitoring page. */
#include "internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_NAME_MAX 255

bool http_static_path_ok(const char *relpath)
{
    size_t n = strlen(relpath);
    if (n > STATIC_NAME_MAX)
        return false;
    if (n == 0)
        return true;
    bool seg_start = true;
    for (size_t i = 0; i < n; i++) {
        char c = relpath[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '/';
        /* a segment starting with '.' covers "..", "." and hidden files; an
         * empty one ("a//b", a leading or trailing '/') is refused too */
        if (!ok || (seg_start && (c == '.' || c == '/')))
            return false;
        seg_start = c == '/';
    }
    return !seg_start;
}

static void not_found(http_resp *resp, const char *relpath)
{
    http_problem(resp, 404, "no page or file is at /%.300s: check the address (the monitoring "
                 "page is at /)", relpath);
}

void http_static_serve(const http_req *req, http_resp *resp, const char *root,
                       const char *relpath)
{
    if (!root || !relpath || !http_static_path_ok(relpath)) {
        not_found(resp, relpath ? relpath : "");
        return;
    }
    const char *name = *relpath ? relpath : "index.html";
    char real_root[PATH_MAX], joined[PATH_MAX + STATIC_NAME_MAX + 2], real[PATH_MAX];
    if (!realpath(root, real_root)) {
        not_found(resp, relpath);
        return;
    }
    snprintf(joined, sizeof joined, "%s/%s", real_root, name);
    /* The name is already free of "..", so only a symlink can lead outside
     * the root; resolving it and comparing prefixes refuses that. */
    size_t rn = strlen(real_root);
    if (!realpath(joined, real) || strncmp(real, real_root, rn) != 0 ||
        (real[rn] != '/' && rn != 1)) {
        not_found(resp, relpath);
        return;
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        not_found(resp, relpath);
        return;
    }
    char tag[96];
    snprintf(tag, sizeof tag, "%" PRIx64 "-%" PRIx64 "-%" PRIx64, (uint64_t)st.st_size,
             (uint64_t)st.st_ino,
             (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec);
    http_resp_clear(resp);
    http_resp_add_header(resp, "Cache-Control", "no-cache");
    if (http_etag(req, resp, tag)) {
        close(fd);
        return;
    }
    resp->status = 200;
    resp->kind = RESP_FILE;
    resp->fd = fd;
    resp->fd_size = (uint64_t)st.st_size;
    snprintf(resp->content_type, sizeof resp->content_type, "%s", http_content_type_for(name));
}

void http_static_handler(const http_req *req, http_resp *resp)
{
    http_static_serve(req, resp, req->www_root, http_req_param(req, "path"));
}
