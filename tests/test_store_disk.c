/* The store on a full disk. */
#define _GNU_SOURCE /* unshare */
#include "store_fixture.h"

#include "gand/store.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* A full disk: writing fails with GAND_ENOSPC and a sentence saying where
 * to free space, the failed write leaves nothing behind, reads go on, and
 * writes work again once there is room. The state directory is a small
 * tmpfs in this test's own mount namespace (libcheck runs each test in a
 * child process); skipped where mounting is not allowed. */
START_TEST(test_full_disk)
{
    char dir[PATH_MAX], filler[PATH_MAX + 16], err[512] = "", want[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%.*s/small", PATH_MAX - 16, fixture_dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700") != 0) {
        fprintf(stderr, "test_full_disk skipped: cannot mount a tmpfs (%s)\n", strerror(errno));
        return;
    }
    store *s = fixture_open(dir);
    int64_t first = fixture_run(s, "before", 10);
    snprintf(filler, sizeof filler, "%s/filler", dir);
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    static char chunk[4096];
    while (write(fd, chunk, sizeof chunk) > 0)
        continue;
    ck_assert_int_eq(errno, ENOSPC);
    close(fd);

    /* runs with large specs, until SQLite's log has no room left either */
    static char spec[16384];
    memset(spec, ' ', sizeof spec - 3);
    spec[0] = '{';
    spec[sizeof spec - 2] = '}';
    store_run_new nr = {.name = "full", .kind = "dcgan", .dataset = "mnist", .spec = spec,
                        .total_steps = 10};
    gand_status st = GAND_OK;
    int created = 0;
    for (int64_t id; created < 1000; created++)
        if ((st = store_run_create(s, &nr, &id, err, sizeof err)) != GAND_OK)
            break;
    ck_assert_msg(st == GAND_ENOSPC, "status %d after %d runs: %s", st, created, err);
    snprintf(want, sizeof want, "; free disk space under %s", dir);
    ck_assert_msg(strstr(err, "disk is full") && strstr(err, want), "%s", err);
    ck_assert_int_eq(fixture_query_int(dir, "SELECT count(*) FROM runs"), created + 1);
    store_run r;
    ck_assert_int_eq(store_run_get(s, first, &r, err, sizeof err), GAND_OK);
    ck_assert_str_eq(r.name, "before");
    store_run_clear(&r);

    ck_assert_int_eq(unlink(filler), 0);
    int64_t id;
    ck_assert_int_eq(store_run_create(s, &nr, &id, err, sizeof err), GAND_OK);
    ck_assert_int_eq(id, first + created + 1);
    store_close(s);
    umount2(dir, MNT_DETACH);
}
END_TEST

static Suite *store_disk_suite(void)
{
    Suite *s = suite_create("store_disk");
    TCase *tc = tcase_create("disk");
    tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_add_test(tc, test_full_disk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_disk_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
