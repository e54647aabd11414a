/* IDX files (the MNIST format): a big-endian header, then unsigned bytes.
 *
 * Files are read through zlib's gz* functions, which read gzip'd and plain
 * files alike. Every count in the header is checked against what the file
 * really holds, so a corrupt or mismatched file is refused with a message
 * instead of being trained on. */
#include "internal.h"

#include "gand/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_TYPE_UBYTE 0x08
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAGIC_IMAGES3 0x00000803u
#define IDX_MAGIC_IMAGES4 0x00000804u

/* Bodies are read into a buffer that doubles up to the size the header
 * declares, so a header that lies about a huge size costs no more memory
 * than the file really holds (gzip'd files have no size to check first). */
#define IDX_FIRST_CHUNK ((size_t)16 << 20)
/* How many trailing bytes are counted for the message before giving up. */
#define IDX_TRAILING_COUNT_MAX ((size_t)1 << 20)

static gand_status idx_open(const char *path, gzFile *out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return gand_errorf(err, errlen, e == ENOENT ? GAND_ENOTFOUND : GAND_EIO,
                           "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "%s: not a regular file; give the path of an IDX file", path);
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return gand_errorf(err, errlen, GAND_ENOMEM, "%s: out of memory opening the file", path);
    }
    gzbuffer(gz, 1u << 17);
    *out = gz;
    return GAND_OK;
}

/* Reads up to n bytes into buf, setting *got. Stopping short of n is not an
 * error by itself (the callers explain what was missing) unless zlib saw
 * damaged or cut-off gzip data or the read failed. */
static gand_status idx_read(gzFile gz, const char *path, void *buf, size_t n, size_t *got,
                            char *err, size_t errlen)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done;
        if (want > (size_t)1 << 30)
            want = (size_t)1 << 30;
        int r = gzread(gz, (unsigned char *)buf + done, (unsigned)want);
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    if (done < n) {
        int errnum = Z_OK;
        const char *msg = gzerror(gz, &errnum);
        if (errnum == Z_ERRNO)
            return gand_errorf(err, errlen, GAND_EIO, "%s: read failed: %s", path,
                               strerror(errno));
        if (errnum == Z_MEM_ERROR)
            return gand_errorf(err, errlen, GAND_ENOMEM, "%s: out of memory decompressing",
                               path);
        if (errnum != Z_OK)
            return gand_errorf(err, errlen, GAND_EFORMAT,
                               "%s: the gzip data is damaged or cut short (%s); fetch the "
                               "file again",
                               path, msg);
    }
    return GAND_OK;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static const char *idx_type_name(int type)
{
    switch (type) {
    case 0x09: return "signed byte";
    case 0x0B: return "16-bit integer";
    case 0x0C: return "32-bit integer";
    case 0x0D: return "float";
    case 0x0E: return "double";
    }
    return "unknown";
}

/* Reads and checks the magic number and dimensions of an image file
 * (labels false: 3 or 4 dimensions) or a label file (1 dimension). */
static gand_status idx_header(gzFile gz, const char *path, bool labels, uint32_t dims[4],
                              int *ndim, char *err, size_t errlen)
{
    unsigned char b[16];
    size_t got;
    gand_status st = idx_read(gz, path, b, 4, &got, err, errlen);
    if (st != GAND_OK)
        return st;
    const char *expected = labels ? "0x00000801 (labels)"
                                  : "0x00000803 (images) or 0x00000804 (images with channels)";
    if (got < 4)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "%s: not an IDX file: it holds %zu bytes, fewer than a magic number",
                           path, got);
    uint32_t magic = be32(b);
    if (b[0] != 0 || b[1] != 0)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "%s: not an IDX file: bad magic 0x%08x, expected %s", path, magic,
                           expected);
    if (b[2] != IDX_TYPE_UBYTE)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "%s: IDX element type 0x%02x (%s) is not supported; gand reads "
                           "unsigned bytes (type 0x08) only",
                           path, b[2], idx_type_name(b[2]));
    bool ok = labels ? magic == IDX_MAGIC_LABELS
                     : (magic == IDX_MAGIC_IMAGES3 || magic == IDX_MAGIC_IMAGES4);
    if (!ok)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "%s: bad magic 0x%08x (%d dimensions), expected %s; is it the %s "
                           "file?",
                           path, magic, b[3], expected, labels ? "images" : "labels");
    *ndim = b[3];
    st = idx_read(gz, path, b, (size_t)*ndim * 4, &got, err, errlen);
    if (st != GAND_OK)
        return st;
    if (got < (size_t)*ndim * 4)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "%s: truncated header: %d dimensions need %d bytes after the magic "
                           "number but the file holds %zu",
                           path, *ndim, *ndim * 4, got);
    for (int i = 0; i < *ndim; i++)
        dims[i] = be32(b + 4 * i);
    return GAND_OK;
}

/* Reads exactly total bytes (what describes, e.g. "60000 images of 28x28")
 * into a new buffer, refusing a file that holds fewer or more. */
static gand_status idx_read_body(gzFile gz, const char *path, size_t total, size_t header_bytes,
                                 const char *what, uint8_t **out, char *err, size_t errlen)
{
    size_t cap = total < IDX_FIRST_CHUNK ? total : IDX_FIRST_CHUNK;
    uint8_t *buf = gand_malloc(cap);
    if (!buf)
        return gand_errorf(err, errlen, GAND_ENOMEM, "%s: out of memory for %s", path, what);
    size_t have = 0;
    gand_status st;
    for (;;) {
        size_t got;
        st = idx_read(gz, path, buf + have, cap - have, &got, err, errlen);
        if (st != GAND_OK)
            goto err;
        have += got;
        if (have < cap || cap == total)
            break;
        size_t ncap = cap > total / 2 ? total : cap * 2;
        uint8_t *nbuf = gand_realloc(buf, ncap);
        if (!nbuf) {
            st = gand_errorf(err, errlen, GAND_ENOMEM, "%s: out of memory for %s", path, what);
            goto err;
        }
        buf = nbuf;
        cap = ncap;
    }
    if (have < total) {
        st = gand_errorf(err, errlen, GAND_EFORMAT,
                         "%s: truncated: header says %s (%zu bytes) but the file holds %zu "
                         "bytes after its %zu-byte header",
                         path, what, total, have, header_bytes);
        goto err;
    }
    size_t extra = 0;
    for (;;) {
        unsigned char sink[4096];
        size_t got;
        st = idx_read(gz, path, sink, sizeof sink, &got, err, errlen);
        if (st != GAND_OK)
            goto err;
        extra += got;
        if (got < sizeof sink || extra >= IDX_TRAILING_COUNT_MAX)
            break;
    }
    if (extra > 0) {
        st = gand_errorf(err, errlen, GAND_EFORMAT,
                         "%s: %s%zu extra bytes after the %s the header declares; the header "
                         "does not describe this file",
                         path, extra >= IDX_TRAILING_COUNT_MAX ? "at least " : "", extra, what);
        goto err;
    }
    *out = buf;
    return GAND_OK;
err:
    gand_free(buf);
    return st;
}

static gand_status idx_load_images(const char *path, nn_shape *shape, int *count,
                                   uint8_t **pixels, char *err, size_t errlen)
{
    gzFile gz = NULL;
    gand_status st = idx_open(path, &gz, err, errlen);
    if (st != GAND_OK)
        return st;
    uint32_t d[4] = {0};
    int ndim = 0;
    st = idx_header(gz, path, false, d, &ndim, err, errlen);
    if (st != GAND_OK)
        goto done;
    uint32_t c = ndim == 4 ? d[1] : 1, h = d[ndim - 2], w = d[ndim - 1];
    char what[96];
    if (ndim == 4)
        snprintf(what, sizeof what, "%u images of %ux%ux%u", d[0], c, h, w);
    else
        snprintf(what, sizeof what, "%u images of %ux%u", d[0], h, w);
    if (d[0] == 0 || c == 0 || h == 0 || w == 0) {
        st = gand_errorf(err, errlen, GAND_EFORMAT,
                         "%s: header says %s: a zero dimension, so there is nothing to train on",
                         path, what);
        goto done;
    }
    uint64_t per = (uint64_t)c * h * w;
    if (per > DATA_MAX_IMAGE_VALUES || d[0] > INT_MAX ||
        per * d[0] > (uint64_t)DATA_MAX_BYTES) {
        st = gand_errorf(err, errlen, GAND_EFORMAT,
                         "%s: header says %s: more than gand loads (at most %zu values per "
                         "image and %zu bytes in all); the header is corrupt or the dataset "
                         "too large",
                         path, what, DATA_MAX_IMAGE_VALUES, DATA_MAX_BYTES);
        goto done;
    }
    st = idx_read_body(gz, path, (size_t)(per * d[0]), 4 + 4 * (size_t)ndim, what, pixels, err,
                       errlen);
    if (st != GAND_OK)
        goto done;
    *shape = (nn_shape){(int)c, (int)h, (int)w};
    *count = (int)d[0];
done:
    gzclose(gz);
    return st;
}

static gand_status idx_load_labels(const char *path, const char *images_path, int count,
                                   uint8_t **labels, char *err, size_t errlen)
{
    gzFile gz = NULL;
    gand_status st = idx_open(path, &gz, err, errlen);
    if (st != GAND_OK)
        return st;
    uint32_t d[4] = {0};
    int ndim = 0;
    st = idx_header(gz, path, true, d, &ndim, err, errlen);
    if (st != GAND_OK)
        goto done;
    if (d[0] != (uint32_t)count) {
        st = gand_errorf(err, errlen, GAND_EFORMAT,
                         "labels file %s holds %u labels but images file %s holds %d images; "
                         "each image needs exactly one label, so use the two files of one "
                         "dataset",
                         path, d[0], images_path, count);
        goto done;
    }
    char what[48];
    snprintf(what, sizeof what, "%u labels", d[0]);
    st = idx_read_body(gz, path, (size_t)count, 8, what, labels, err, errlen);
done:
    gzclose(gz);
    return st;
}

gand_status data_idx_load(const char *images_path, const char *labels_path, data_set **out,
                          char *err, size_t errlen)
{
    *out = NULL;
    if (!images_path || !*images_path)
        return gand_errorf(err, errlen, GAND_EINVAL, "no images file given");
    nn_shape shape;
    int count = 0;
    uint8_t *pixels = NULL, *labels = NULL;
    gand_status st = idx_load_images(images_path, &shape, &count, &pixels, err, errlen);
    if (st != GAND_OK)
        return st;
    if (labels_path) {
        st = idx_load_labels(labels_path, images_path, count, &labels, err, errlen);
        if (st != GAND_OK) {
            gand_free(pixels);
            return st;
        }
    }
    data_set *ds = data_set_wrap(shape, count, pixels, labels);
    if (!ds)
        return gand_errorf(err, errlen, GAND_ENOMEM, "%s: out of memory", images_path);
    *out = ds;
    return GAND_OK;
}

gand_status data_idx_probe(const char *images_path, const char *labels_path, data_info *info,
                           char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    gzFile gz = NULL;
    gand_status st = idx_open(images_path, &gz, err, errlen);
    if (st != GAND_OK)
        return st;
    uint32_t d[4] = {0};
    int ndim = 0;
    st = idx_header(gz, images_path, false, d, &ndim, err, errlen);
    gzclose(gz);
    if (st != GAND_OK)
        return st;
    if (d[0] == 0 || d[0] > INT_MAX || d[ndim - 2] == 0 || d[ndim - 1] == 0 ||
        (ndim == 4 && d[1] == 0))
        return gand_errorf(err, errlen, GAND_EFORMAT, "%s: a dimension is 0 or too large",
                           images_path);
    info->count = (int)d[0];
    info->shape = ndim == 4 ? (nn_shape){(int)d[1], (int)d[2], (int)d[3]}
                            : (nn_shape){1, (int)d[1], (int)d[2]};
    if (!labels_path)
        return GAND_OK;
    uint8_t *labels = NULL;
    st = idx_load_labels(labels_path, images_path, info->count, &labels, err, errlen);
    if (st != GAND_OK)
        return st;
    info->has_labels = true;
    for (int i = 0; i < info->count; i++) {
        info->class_counts[labels[i]]++;
        if (labels[i] + 1 > info->num_classes)
            info->num_classes = labels[i] + 1;
    }
    gand_free(labels);
    return GAND_OK;
}
