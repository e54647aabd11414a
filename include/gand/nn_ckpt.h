/* Checkpoints: one file holding one or more finalized nets (parameters,
 * optimiser moments and steps, non-trainable state) and an opaque blob for
 * the caller (a trainer keeps its RNG state and counters there).
 *
 * Format version 1, little-endian, fixed-width integers, floats as IEEE-754
 * binary32:
 *
 *     char[8]  magic "GANDCKPT"
 *     u32      format version (1)
 *     u64      total file length in bytes, CRC included
 *     u32      number of nets
 *     per net:  u32 name length, name bytes (no NUL)
 *               i64 optimiser steps
 *               u32 number of tensors
 *               per tensor (in nn_net_param() order):
 *                   u32 name length, name bytes; u8 trainable;
 *                   u32 ndim; i32 dims[ndim]
 *     per net:  f32 parameters[P], moment1[P], moment2[P], state[S]
 *               (P = nn_net_num_params(), S = nn_net_num_state(): the net's
 *               contiguous buffers, tensors in order)
 *     u64      extra length E, then E bytes
 *     u32      CRC-32 (zlib's crc32) of every byte before it
 */
#ifndef GAND_NN_CKPT_H
#define GAND_NN_CKPT_H

#include "gand/nn.h"
#include "gand/status.h"

#include <stddef.h>

#define NN_CKPT_VERSION 1
#define NN_CKPT_NAME_MAX 64 /* longest net name, in bytes */

/* Writes nets[0..n-1] (finalized), named names[i] (non-empty, at most
 * NN_CKPT_NAME_MAX bytes), and extra (extra_len bytes; may be NULL when
 * extra_len is 0) to path.
 *
 * The file is written as "<path>.tmp", flushed and fsynced, renamed over
 * path and the directory fsynced, so path always holds either the old
 * checkpoint or the complete new one. On any error before the rename the
 * tmp file is removed and path is untouched; if only the final directory
 * sync fails, path already holds the new checkpoint and GAND_EIO says so.
 * One writer per path at a time: concurrent saves would share the tmp file.
 *
 * Returns GAND_OK; GAND_EINVAL for a net that is not finalized or a bad
 * name; GAND_EIO when a file operation fails (the message names the path
 * and the system's reason); GAND_ENOMEM. */
gand_status nn_ckpt_save(const char *path, nn_net *const *nets, const char *const *names, int n,
                         const void *extra, size_t extra_len, char *err, size_t errlen);

/* Loads path into nets[0..n-1], which must be finalized nets of the
 * architecture that was saved (same names, same tensors in the same order
 * with the same shapes), and its extra blob into extra, which must be
 * exactly extra_len bytes long. Restores parameters, both moments, state
 * and optimiser steps.
 *
 * The whole file is read and verified before anything is copied, so on any
 * error the nets and extra are unchanged. Returns GAND_OK;
 * GAND_ENOTFOUND when path does not exist; GAND_EIO when it cannot be
 * read; GAND_ENOMEM; GAND_EFORMAT when the file is not a checkpoint this
 * model can take, with a message saying what differs: "not a gand
 * checkpoint", an unsupported version, "truncated: expected N bytes, file
 * has M", "corrupted" (checksum or length mismatch), a different number or
 * name of nets, a tensor whose name or shape differs (naming both shapes),
 * or an extra blob of a different length. */
gand_status nn_ckpt_load(const char *path, nn_net *const *nets, const char *const *names, int n,
                         void *extra, size_t extra_len, char *err, size_t errlen);

#endif
