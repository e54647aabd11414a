/* Test helpers for the store suites: a fresh state directory per test, and
 * a raw SQLite view of gand.db to check what the store wrote. */
#ifndef GAND_TEST_STORE_FIXTURE_H
#define GAND_TEST_STORE_FIXTURE_H

#include "gand/store.h"

#include <stdint.h>

/* The current test's state directory (created by fixture_setup). */
extern char fixture_dir[];

/* Checked fixture: makes a fresh mkdtemp directory / removes it with all
 * its contents. */
void fixture_setup(void);
void fixture_teardown(void);

/* Removes path and everything under it; missing paths are fine. */
void fixture_rm_rf(const char *path);

/* Opens the store in dir, failing the test with the message on error. */
store *fixture_open(const char *dir);

/* Creates a run named name with total_steps and returns its id. */
int64_t fixture_run(store *s, const char *name, int64_t total_steps);

/* Moves a queued run to state along legal transitions. */
void fixture_to_state(store *s, int64_t id, store_run_state state);

/* Runs one query returning one integer on dir's gand.db through a separate
 * raw SQLite connection, e.g. "SELECT count(*) FROM metrics". */
int64_t fixture_query_int(const char *dir, const char *sql);
/* The same for a text result, copied into out (size n). */
void fixture_query_text(const char *dir, const char *sql, char *out, size_t n);
/* Runs sql (no result) on dir's gand.db through a raw connection. */
void fixture_exec(const char *dir, const char *sql);

#endif
