/* Checkpoint files; the format is documented in include/gand/nn_ckpt.h.
 *
 * Saving streams the header and each net's buffers through one FILE with a
 * running CRC, so no copy of the parameters is made. Loading reads the whole
 * file, checks length, checksum and every tensor against the model in a
 * first pass, and copies in a second pass over the same bytes that cannot
 * fail, so a refused file changes nothing. */
#include "gand/nn_ckpt.h"

#include "gand/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char ckpt_magic[8] = {'G', 'A', 'N', 'D', 'C', 'K', 'P', 'T'};

/* magic, version, total length, number of nets */
#define CKPT_FIXED_BYTES 24u
/* longest tensor name a valid file can hold (nn_param names are shorter) */
#define CKPT_TENSOR_NAME_MAX 255u

/* ---- encoding ---- */

/* Little-endian integers of nb bytes. */
static void put_le(unsigned char *b, uint64_t v, int nb)
{
    for (int i = 0; i < nb; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *b, int nb)
{
    uint64_t v = 0;
    for (int i = 0; i < nb; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* Bytes of one net's header: name, steps, tensor count, tensor records. */
static size_t net_header_bytes(nn_net *net, const char *name)
{
    size_t b = 4 + strlen(name) + 8 + 4;
    for (int k = 0; k < nn_net_param_count(net); k++) {
        const nn_param *p = nn_net_param(net, k);
        b += 4 + strlen(p->name) + 1 + 4 + 4 * (size_t)p->ndim;
    }
    return b;
}

static size_t net_data_bytes(const nn_net *net)
{
    return 4 * (3 * nn_net_num_params(net) + nn_net_num_state(net));
}

/* ---- saving ---- */

typedef struct {
    FILE *f;
    uLong crc;
    int err; /* errno of the first failed write, 0 while all is well */
} writer;

static void w_bytes(writer *w, const void *p, size_t n)
{
    if (w->err || n == 0)
        return;
    w->crc = crc32_z(w->crc, p, n);
    if (fwrite(p, 1, n, w->f) != n)
        w->err = errno ? errno : EIO;
}

static void w_le(writer *w, uint64_t v, int nb)
{
    unsigned char b[8];
    put_le(b, v, nb);
    w_bytes(w, b, (size_t)nb);
}

static void w_str(writer *w, const char *s)
{
    size_t len = strlen(s);
    w_le(w, (uint32_t)len, 4);
    w_bytes(w, s, len);
}

/* Floats go out through a small buffer in little-endian byte order, which
 * is one code path for every host. */
static void w_floats(writer *w, const float *a, size_t n)
{
    unsigned char buf[4096];
    size_t per = sizeof buf / 4;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        for (size_t j = 0; j < m; j++) {
            uint32_t u;
            memcpy(&u, &a[i + j], 4);
            put_le(buf + 4 * j, u, 4);
        }
        w_bytes(w, buf, 4 * m);
    }
}

static void write_all(writer *w, nn_net *const *nets, const char *const *names, int n,
                      const void *extra, size_t extra_len, uint64_t total)
{
    w_bytes(w, ckpt_magic, sizeof ckpt_magic);
    w_le(w, NN_CKPT_VERSION, 4);
    w_le(w, total, 8);
    w_le(w, (uint32_t)n, 4);
    for (int i = 0; i < n; i++) {
        w_str(w, names[i]);
        w_le(w, (uint64_t)(int64_t)nn_net_steps(nets[i]), 8);
        w_le(w, (uint32_t)nn_net_param_count(nets[i]), 4);
        for (int k = 0; k < nn_net_param_count(nets[i]); k++) {
            const nn_param *p = nn_net_param(nets[i], k);
            unsigned char t = p->trainable;
            w_str(w, p->name);
            w_bytes(w, &t, 1);
            w_le(w, (uint32_t)p->ndim, 4);
            for (int d = 0; d < p->ndim; d++)
                w_le(w, (uint32_t)p->dims[d], 4);
        }
    }
    for (int i = 0; i < n; i++) {
        size_t np = nn_net_num_params(nets[i]);
        w_floats(w, nn_net_params(nets[i]), np);
        w_floats(w, nn_net_moment1(nets[i]), np);
        w_floats(w, nn_net_moment2(nets[i]), np);
        w_floats(w, nn_net_state(nets[i]), nn_net_num_state(nets[i]));
    }
    w_le(w, extra_len, 8);
    w_bytes(w, extra, extra_len);
    unsigned char crc[4];
    put_le(crc, w->crc, 4);
    w_bytes(w, crc, 4);
}

static gand_status check_nets(nn_net *const *nets, const char *const *names, int n, char *err,
                              size_t errlen)
{
    if (n < 1)
        return gand_errorf(err, errlen, GAND_EINVAL, "a checkpoint holds at least one net, got %d",
                           n);
    for (int i = 0; i < n; i++) {
        size_t len = names[i] ? strlen(names[i]) : 0;
        if (len == 0 || len > NN_CKPT_NAME_MAX)
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "net %d needs a name of 1 to %d bytes", i, NN_CKPT_NAME_MAX);
        if (!nets[i] || nn_net_max_batch(nets[i]) == 0)
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "net '%s' is not finalized; finalize it before saving or loading",
                               names[i]);
    }
    return GAND_OK;
}

/* Syncs the directory holding path so that the rename is durable. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

gand_status nn_ckpt_save(const char *path, nn_net *const *nets, const char *const *names, int n,
                         const void *extra, size_t extra_len, char *err, size_t errlen)
{
    gand_status st = check_nets(nets, names, n, err, errlen);
    if (st != GAND_OK)
        return st;

    uint64_t total = CKPT_FIXED_BYTES + 8 + extra_len + 4;
    for (int i = 0; i < n; i++)
        total += net_header_bytes(nets[i], names[i]) + net_data_bytes(nets[i]);

    /* "<path>.tmp" and the directory, allocated up front so that nothing
     * can fail for lack of memory once the file exists */
    size_t plen = strlen(path);
    char *tmp = gand_malloc(2 * plen + 8);
    if (!tmp)
        return gand_errorf(err, errlen, GAND_ENOMEM, "out of memory saving checkpoint '%s'", path);
    char *dir = tmp + plen + 5;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    const char *slash = strrchr(path, '/');
    size_t dlen = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, dlen ? path : ".", dlen ? dlen : 1);
    dir[dlen ? dlen : 1] = '\0';

    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = gand_errorf(err, errlen, GAND_EIO, "cannot create checkpoint file '%s': %s", tmp,
                         strerror(errno));
        gand_free(tmp);
        return st;
    }
    writer w = {.f = fdopen(fd, "wb"), .crc = crc32_z(0, Z_NULL, 0)};
    if (!w.f) {
        st = gand_errorf(err, errlen, GAND_EIO, "cannot write checkpoint file '%s': %s", tmp,
                         strerror(errno));
        close(fd);
        goto err;
    }
    write_all(&w, nets, names, n, extra, extra_len, total);
    if (!w.err && fflush(w.f) != 0)
        w.err = errno;
    if (!w.err && fsync(fileno(w.f)) != 0)
        w.err = errno;
    if (fclose(w.f) != 0 && !w.err)
        w.err = errno;
    if (w.err) {
        st = gand_errorf(err, errlen, GAND_EIO, "cannot write checkpoint file '%s': %s", tmp,
                         strerror(w.err));
        goto err;
    }
    if (rename(tmp, path) != 0) {
        st = gand_errorf(err, errlen, GAND_EIO, "cannot rename '%s' to '%s': %s", tmp, path,
                         strerror(errno));
        goto err;
    }
    if (sync_dir(dir) != 0)
        st = gand_errorf(err, errlen, GAND_EIO,
                         "checkpoint '%s' was written but syncing its directory '%s' failed: %s",
                         path, dir, strerror(errno));
    gand_free(tmp);
    return st;

err:
    unlink(tmp);
    gand_free(tmp);
    return st;
}

/* ---- loading ---- */

typedef struct {
    const unsigned char *b;
    size_t len, pos;
    bool overrun;
} reader;

static const unsigned char *r_take(reader *r, size_t n)
{
    if (r->overrun || r->len - r->pos < n) {
        r->overrun = true;
        return NULL;
    }
    const unsigned char *p = r->b + r->pos;
    r->pos += n;
    return p;
}

static uint32_t r_u32(reader *r)
{
    const unsigned char *p = r_take(r, 4);
    return p ? (uint32_t)get_le(p, 4) : 0;
}

static uint64_t r_u64(reader *r)
{
    const unsigned char *p = r_take(r, 8);
    return p ? get_le(p, 8) : 0;
}

/* Formats dims as "(a,b,c)". */
static void fmt_dims(char *buf, size_t len, const int *dims, int ndim)
{
    size_t o = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < ndim && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, d ? ",%d" : "%d", dims[d]);
    if (o < len)
        snprintf(buf + o, len - o, ")");
}

static void r_floats(reader *r, float *a, size_t n)
{
    const unsigned char *p = r_take(r, 4 * n);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)get_le(p + 4 * i, 4);
        memcpy(&a[i], &u, 4);
    }
}

/* Compares one tensor record at r with p; false with a message on mismatch. */
static bool check_tensor(reader *r, const nn_param *p, const char *net, int k, const char *path,
                         char *err, size_t errlen, gand_status *st)
{
    uint32_t nlen = r_u32(r);
    const unsigned char *name = nlen <= CKPT_TENSOR_NAME_MAX ? r_take(r, nlen) : NULL;
    const unsigned char *tr = r_take(r, 1);
    uint32_t ndim = r_u32(r);
    int dims[NN_MAX_DIMS];
    for (uint32_t d = 0; d < ndim && d < NN_MAX_DIMS; d++)
        dims[d] = (int)(int32_t)r_u32(r);
    if (!name || !tr || ndim > NN_MAX_DIMS || r->overrun) {
        *st = gand_errorf(err, errlen, GAND_EFORMAT,
                          "checkpoint '%s' is corrupted: net '%s' tensor %d record is malformed",
                          path, net, k);
        return false;
    }
    bool same_name = nlen == strlen(p->name) && memcmp(name, p->name, nlen) == 0;
    bool same_shape = (int)ndim == p->ndim;
    for (uint32_t d = 0; same_shape && d < ndim; d++)
        same_shape = dims[d] == p->dims[d];
    if (same_name && same_shape && (*tr != 0) == p->trainable)
        return true;
    char fd[80], md[80];
    fmt_dims(fd, sizeof fd, dims, (int)ndim);
    fmt_dims(md, sizeof md, p->dims, p->ndim);
    if (!same_name)
        *st = gand_errorf(err, errlen, GAND_EFORMAT,
                          "checkpoint '%s': net '%s' tensor %d: checkpoint has '%.*s' %s, model "
                          "has '%s' %s",
                          path, net, k, (int)nlen, (const char *)name, fd, p->name, md);
    else if (!same_shape)
        *st = gand_errorf(err, errlen, GAND_EFORMAT,
                          "checkpoint '%s': net '%s' tensor %d '%s': checkpoint has %s, model "
                          "has %s",
                          path, net, k, p->name, fd, md);
    else
        *st = gand_errorf(err, errlen, GAND_EFORMAT,
                          "checkpoint '%s': net '%s' tensor %d '%s' is %s in the checkpoint "
                          "but %s in the model",
                          path, net, k, p->name, *tr ? "trainable" : "state",
                          p->trainable ? "trainable" : "state");
    return false;
}

/* Walks a file whose length and checksum are verified. With apply false it
 * checks everything against the model; with apply true (only after a
 * successful check) it copies into the nets and extra. */
static gand_status parse(const unsigned char *buf, size_t len, nn_net *const *nets,
                         const char *const *names, int n, void *extra, size_t extra_len,
                         bool apply, const char *path, char *err, size_t errlen)
{
    reader r = {.b = buf, .len = len - 4, .pos = CKPT_FIXED_BYTES - 4};
    gand_status st = GAND_OK;
    uint32_t nnets = r_u32(&r);
    if (nnets != (uint32_t)n)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "checkpoint '%s' holds %" PRIu32 " nets, the model has %d", path, nnets,
                           n);
    for (int i = 0; i < n; i++) {
        uint32_t nlen = r_u32(&r);
        const unsigned char *name = nlen <= NN_CKPT_NAME_MAX ? r_take(&r, nlen) : NULL;
        uint64_t steps = r_u64(&r);
        uint32_t nt = r_u32(&r);
        if (!name || r.overrun)
            return gand_errorf(err, errlen, GAND_EFORMAT,
                               "checkpoint '%s' is corrupted: net %d header is malformed", path, i);
        if (nlen != strlen(names[i]) || memcmp(name, names[i], nlen) != 0)
            return gand_errorf(err, errlen, GAND_EFORMAT,
                               "checkpoint '%s': net %d is '%.*s' in the checkpoint, '%s' in the "
                               "model",
                               path, i, (int)nlen, (const char *)name, names[i]);
        int count = nn_net_param_count(nets[i]);
        if (nt != (uint32_t)count)
            return gand_errorf(err, errlen, GAND_EFORMAT,
                               "checkpoint '%s': net '%s': checkpoint has %" PRIu32
                               " tensors, model has %d",
                               path, names[i], nt, count);
        for (int k = 0; k < count; k++)
            if (!check_tensor(&r, nn_net_param(nets[i], k), names[i], k, path, err, errlen, &st))
                return st;
        if (apply)
            nn_net_set_steps(nets[i], (long)(int64_t)steps);
    }
    for (int i = 0; i < n; i++) {
        size_t np = nn_net_num_params(nets[i]), ns = nn_net_num_state(nets[i]);
        if (r.len - r.pos < net_data_bytes(nets[i]))
            return gand_errorf(err, errlen, GAND_EFORMAT,
                               "checkpoint '%s' is corrupted: net '%s' data ends past the file",
                               path, names[i]);
        if (!apply) {
            r.pos += net_data_bytes(nets[i]);
            continue;
        }
        r_floats(&r, nn_net_params(nets[i]), np);
        r_floats(&r, nn_net_moment1(nets[i]), np);
        r_floats(&r, nn_net_moment2(nets[i]), np);
        r_floats(&r, nn_net_state(nets[i]), ns);
    }
    uint64_t elen = r_u64(&r);
    if (r.overrun)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "checkpoint '%s' is corrupted: the extra data length is missing", path);
    if (elen != extra_len)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "checkpoint '%s': extra data: checkpoint has %" PRIu64
                           " bytes, expected %zu",
                           path, elen, extra_len);
    if (r.len - r.pos != elen)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "checkpoint '%s' is corrupted: %zu bytes follow the nets' data where "
                           "%" PRIu64 " are expected",
                           path, r.len - r.pos, elen);
    if (apply && elen)
        memcpy(extra, r.b + r.pos, elen);
    return GAND_OK;
}

/* Checks magic, version, length and checksum of buf (len bytes). */
static gand_status verify(const unsigned char *buf, size_t len, const char *path, char *err,
                          size_t errlen)
{
    size_t m = len < sizeof ckpt_magic ? len : sizeof ckpt_magic;
    if (memcmp(buf, ckpt_magic, m) != 0)
        return gand_errorf(err, errlen, GAND_EFORMAT, "'%s' is not a gand checkpoint", path);
    if (len < CKPT_FIXED_BYTES)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "checkpoint '%s' is truncated: expected at least %u bytes, file has %zu",
                           path, CKPT_FIXED_BYTES, len);
    uint32_t version = (uint32_t)get_le(buf + 8, 4);
    if (version != NN_CKPT_VERSION)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "checkpoint '%s' has format version %" PRIu32
                           ", which is unsupported: this gand reads version %d",
                           path, version, NN_CKPT_VERSION);
    uint64_t total = get_le(buf + 12, 8);
    if (len < total)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "checkpoint '%s' is truncated: expected %" PRIu64
                           " bytes, file has %zu",
                           path, total, len);
    if (len > total || total < CKPT_FIXED_BYTES + 12)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "checkpoint '%s' is corrupted: its header says %" PRIu64
                           " bytes, the file has %zu",
                           path, total, len);
    uint32_t stored = (uint32_t)get_le(buf + len - 4, 4);
    uint32_t crc = (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), buf, len - 4);
    if (stored != crc)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "checkpoint '%s' is corrupted: checksum %08" PRIx32
                           " does not match the stored %08" PRIx32,
                           path, crc, stored);
    return GAND_OK;
}

/* Reads the whole file at path into a new buffer. */
static gand_status read_file(const char *path, unsigned char **out, size_t *outlen, char *err,
                             size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gand_errorf(err, errlen, errno == ENOENT ? GAND_ENOTFOUND : GAND_EIO,
                           "cannot open checkpoint '%s': %s", path, strerror(errno));
    gand_status st = GAND_OK;
    unsigned char *buf = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = gand_errorf(err, errlen, GAND_EIO, "cannot read checkpoint '%s': %s", path,
                         strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = gand_errorf(err, errlen, GAND_EIO, "cannot read checkpoint '%s': not a regular file",
                         path);
        goto done;
    }
    size_t size = (size_t)sb.st_size;
    buf = gand_malloc(size);
    if (!buf) {
        st = gand_errorf(err, errlen, GAND_ENOMEM,
                         "out of memory reading checkpoint '%s' (%zu bytes)", path, size);
        goto done;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t k = read(fd, buf + got, size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            st = gand_errorf(err, errlen, GAND_EIO, "cannot read checkpoint '%s': %s", path,
                             strerror(errno));
            gand_free(buf);
            buf = NULL;
            goto done;
        }
        if (k == 0) /* the file shrank since fstat: verify the bytes there are */
            break;
        got += (size_t)k;
    }
    *out = buf;
    *outlen = got;
done:
    close(fd);
    return st;
}

gand_status nn_ckpt_load(const char *path, nn_net *const *nets, const char *const *names, int n,
                         void *extra, size_t extra_len, char *err, size_t errlen)
{
    gand_status st = check_nets(nets, names, n, err, errlen);
    if (st != GAND_OK)
        return st;
    unsigned char *buf = NULL;
    size_t len = 0;
    st = read_file(path, &buf, &len, err, errlen);
    if (st != GAND_OK)
        return st;
    st = verify(buf, len, path, err, errlen);
    if (st == GAND_OK)
        st = parse(buf, len, nets, names, n, extra, extra_len, false, path, err, errlen);
    if (st == GAND_OK)
        parse(buf, len, nets, names, n, extra, extra_len, true, path, err, errlen);
    gand_free(buf);
    return st;
}
