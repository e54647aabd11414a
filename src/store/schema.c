/* The schema and its migrations.
 *
 * migrations[i] takes a database from PRAGMA user_version i to i + 1 and is
 * applied in a transaction of its own together with the version bump, so a
 * crash mid-upgrade leaves the previous version intact. Migrations are only
 * ever appended; a shipped one is never edited. */
#include "store_internal.h"

#include <stdio.h>

/* "gand" in ASCII: marks gand.db as ours (PRAGMA application_id). */
#define GAND_APPLICATION_ID 0x67616e64

static const char *const migrations[] = {
    /* 1: everything.
     * runs: AUTOINCREMENT so a deleted run's id (its URLs, its directory of
     * files) is never given to a new run. Times are Unix ms, NULL = not yet.
     * runs_status serves listing by status newest first, counting by
     * status and finding running runs at start-up.
     * metrics, samples: the primary key is the only index a series read or
     * a truncation needs, and leads with run_id for the cascade; WITHOUT
     * ROWID stores each row once, inside that key's b-tree. A NULL value
     * is a NaN (SQLite has no NaN).
     * events: AUTOINCREMENT gives the global, never reused, increasing id
     * SSE clients resume from; step is NULL for events not tied to a
     * training step. events_run serves one run's events after an id. */
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  dataset TEXT NOT NULL,"
    "  spec TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'queued'"
    "    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),"
    "  created_at INTEGER NOT NULL,"
    "  started_at INTEGER,"
    "  finished_at INTEGER,"
    "  step INTEGER NOT NULL DEFAULT 0 CHECK (step >= 0),"
    "  total_steps INTEGER NOT NULL CHECK (total_steps >= 0),"
    "  error TEXT,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),"
    "  checkpoint_step INTEGER CHECK (checkpoint_step >= 0)"
    ");"
    "CREATE INDEX runs_status ON runs (status, id);"
    "CREATE TABLE metrics ("
    "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  step INTEGER NOT NULL CHECK (step >= 0),"
    "  value REAL,"
    "  PRIMARY KEY (run_id, name, step)"
    ") WITHOUT ROWID;"
    "CREATE TABLE samples ("
    "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  step INTEGER NOT NULL CHECK (step >= 0),"
    "  file TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (run_id, step)"
    ") WITHOUT ROWID;"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  type TEXT NOT NULL CHECK (type IN ('state', 'progress', 'metrics', 'sample')),"
    "  step INTEGER CHECK (step >= 0),"
    "  data TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX events_run ON events (run_id, id);"
    "PRAGMA application_id = 1734438500;",
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(GAND_APPLICATION_ID == 1734438500, "migration 1 spells the id out");

int store_schema_version(void) { return SCHEMA_VERSION; }

static int read_int(store *s, const char *sql, int *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Reads the version and refuses databases this gand must not touch. */
static gand_status check_db(store *s, int *version, char *err, size_t errlen)
{
    int app_id = 0, tables = 0;
    int rc = read_int(s, "PRAGMA user_version", version);
    if (rc == SQLITE_OK)
        rc = read_int(s, "PRAGMA application_id", &app_id);
    if (rc == SQLITE_OK)
        rc = read_int(s, "SELECT count(*) FROM sqlite_master", &tables);
    if (rc != SQLITE_OK)
        return db_fail(s, rc, err, errlen, "cannot read the schema of %s", s->path);
    if (*version > SCHEMA_VERSION)
        return gand_errorf(err, errlen, GAND_ERANGE,
                           "%s has schema version %d, newer than the version %d this gand "
                           "knows; run the gand that wrote it (or a newer one), or choose "
                           "another state directory",
                           s->path, *version, SCHEMA_VERSION);
    if (*version > 0 && app_id != GAND_APPLICATION_ID)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "%s is not a gand database (application id %d); choose another "
                           "state directory",
                           s->path, app_id);
    if (*version == 0 && tables > 0)
        return gand_errorf(err, errlen, GAND_EFORMAT,
                           "%s holds tables gand did not create; move it away or choose "
                           "another state directory",
                           s->path);
    return GAND_OK;
}

gand_status db_migrate(store *s, char *err, size_t errlen)
{
    int version;
    gand_status ret = check_db(s, &version, err, errlen);
    while (ret == GAND_OK && version < SCHEMA_VERSION) {
        ret = db_begin_write(s, err, errlen);
        if (ret != GAND_OK)
            return ret;
        /* Another connection may have migrated while we waited for the lock. */
        ret = check_db(s, &version, err, errlen);
        if (ret == GAND_OK && version < SCHEMA_VERSION) {
            char bump[48];
            snprintf(bump, sizeof bump, "PRAGMA user_version = %d", version + 1);
            int rc = sqlite3_exec(s->db, migrations[version], NULL, NULL, NULL);
            if (rc == SQLITE_OK)
                rc = sqlite3_exec(s->db, bump, NULL, NULL, NULL);
            if (rc != SQLITE_OK)
                ret = db_fail(s, rc, err, errlen, "cannot upgrade %s to schema version %d",
                              s->path, version + 1);
            version++;
        }
        if (ret != GAND_OK) {
            db_rollback(s);
            return ret;
        }
        ret = db_commit(s, err, errlen);
    }
    return ret;
}
