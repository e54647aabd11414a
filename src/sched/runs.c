/* A run's files (sample grids, checkpoints) and its events. */
#include "internal.h"

#include "gand/alloc.h"
#include "gand/log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void sched_run_path(const sched *s, int64_t id, const char *sub, char *buf)
{
    if (sub)
        snprintf(buf, PATH_MAX, "%s/runs/%lld/%s", s->state_dir, (long long)id, sub);
    else
        snprintf(buf, PATH_MAX, "%s/runs/%lld", s->state_dir, (long long)id);
}

static gand_status make_dir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return GAND_OK;
    return gand_errorf(err, errlen, GAND_EIO,
                       "cannot create %s: %s; check that the state directory is writable", path,
                       strerror(errno));
}

gand_status sched_run_dirs(const sched *s, int64_t id, char *err, size_t errlen)
{
    char path[PATH_MAX];
    gand_status st;
    sched_run_path(s, id, NULL, path);
    if ((st = make_dir(path, err, errlen)) != GAND_OK)
        return st;
    sched_run_path(s, id, "samples", path);
    if ((st = make_dir(path, err, errlen)) != GAND_OK)
        return st;
    sched_run_path(s, id, "checkpoints", path);
    return make_dir(path, err, errlen);
}

/* The step of a file named step-<digits>.ckpt, -1 for any other name (such
 * as the .tmp of a save that was interrupted). */
static int64_t checkpoint_step(const char *name)
{
    if (strncmp(name, "step-", 5) != 0 || name[5] < '0' || name[5] > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(name + 5, &end, 10);
    if (errno || strcmp(end, ".ckpt") != 0)
        return -1;
    return v;
}

/* Steps of the run's checkpoint files into a gand_malloc'd array (NULL with
 * *n = 0 when there are none or the directory cannot be read). */
static int64_t *list_checkpoints(const sched *s, int64_t id, size_t *n)
{
    char dir[PATH_MAX];
    sched_run_path(s, id, "checkpoints", dir);
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    int64_t *steps = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t step = checkpoint_step(e->d_name);
        if (step < 0)
            continue;
        if (*n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            int64_t *p = gand_realloc(steps, ncap * sizeof *p);
            if (!p)
                break;
            steps = p;
            cap = ncap;
        }
        steps[(*n)++] = step;
    }
    closedir(d);
    return steps;
}

int64_t sched_newest_checkpoint(const sched *s, int64_t id, int64_t max_step)
{
    size_t n;
    int64_t *steps = list_checkpoints(s, id, &n);
    int64_t best = -1;
    for (size_t i = 0; i < n; i++)
        if (steps[i] <= max_step && steps[i] > best)
            best = steps[i];
    gand_free(steps);
    return best;
}

static void remove_checkpoint(const sched *s, int64_t id, int64_t step)
{
    char name[64], path[PATH_MAX];
    snprintf(name, sizeof name, "checkpoints/step-%07lld.ckpt", (long long)step);
    sched_run_path(s, id, name, path);
    if (unlink(path) != 0 && errno != ENOENT)
        gand_log_warn("run %lld: cannot delete %s: %s", (long long)id, path, strerror(errno));
}

void sched_prune_checkpoints(const sched *s, int64_t id, int64_t after_step, int keep)
{
    size_t n;
    int64_t *steps = list_checkpoints(s, id, &n);
    for (size_t i = 0; i < n; i++) {
        size_t newer = 0;
        for (size_t j = 0; j < n; j++)
            newer += steps[j] > steps[i] && steps[j] <= after_step;
        if (steps[i] > after_step || (keep > 0 && newer >= (size_t)keep))
            remove_checkpoint(s, id, steps[i]);
    }
    gand_free(steps);
}

void sched_remove_sample_files(const sched *s, int64_t id, store_sample_list *removed)
{
    for (size_t i = 0; i < removed->n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", s->state_dir, removed->samples[i].file);
        if (unlink(path) != 0 && errno != ENOENT)
            gand_log_warn("run %lld: cannot delete %s: %s", (long long)id, path,
                          strerror(errno));
    }
    store_sample_list_clear(removed);
}

gand_status sched_rewind(sched *s, store *db, int64_t id, int64_t step, char *err,
                         size_t errlen)
{
    store_sample_list removed;
    gand_status st = store_run_truncate(db, id, step, &removed, err, errlen);
    if (st != GAND_OK)
        return st;
    sched_remove_sample_files(s, id, &removed);
    sched_prune_checkpoints(s, id, step, 0);
    return GAND_OK;
}

void sched_event(sched *s, store *db, int64_t run_id, store_event_type type, int64_t step,
                 cJSON *data)
{
    char *text = data ? cJSON_PrintUnformatted(data) : NULL;
    cJSON_Delete(data);
    if (!text) {
        gand_log_warn("run %lld: out of memory building a %s event", (long long)run_id,
                      store_event_type_name(type));
        return;
    }
    char err[512];
    int64_t event_id = 0;
    gand_status st = store_event_append(db, run_id, type, step, text, &event_id, err, sizeof err);
    if (st != GAND_OK)
        gand_log_warn("run %lld: cannot record a %s event: %s", (long long)run_id,
                      store_event_type_name(type), err);
    else if (s->p.on_event)
        s->p.on_event(s->p.event_ctx, event_id, run_id, store_event_type_name(type), text);
    cJSON_free(text);
}

void sched_state_event(sched *s, store *db, int64_t run_id, store_run_state state,
                       const char *error)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "state", store_run_state_name(state));
        if (error)
            cJSON_AddStringToObject(o, "error", error);
    }
    sched_event(s, db, run_id, STORE_EVENT_STATE, -1, o);
}
