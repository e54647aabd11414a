/* Telling systemd how the daemon is doing (sd_notify).
 *
 * Under a Type=notify unit systemd sets NOTIFY_SOCKET; every function here
 * sends one message to it through libsystemd. Outside systemd (no
 * NOTIFY_SOCKET) they do nothing and return GAND_OK, so the daemon calls
 * them unconditionally. Thread-safe: each call is one datagram.
 */
#ifndef GAND_NOTIFY_H
#define GAND_NOTIFY_H

#include "gand/status.h"

#include <stdbool.h>
#include <stdint.h>

/* READY=1: start-up is over (the database is open, interrupted runs are
 * queued again); systemd starts units ordered after gand. GAND_EIO when the
 * message could not be sent, for every function below. */
gand_status gand_notify_ready(void);

/* STATUS=<text>: one line shown by systemctl status, e.g.
 * gand_notify_status("%d running, %d queued", running, queued). */
gand_status gand_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* STOPPING=1: shutdown has begun. */
gand_status gand_notify_stopping(void);

/* WATCHDOG=1: the main loop is alive. Send at least every
 * gand_notify_watchdog_usec() / 2 microseconds. */
gand_status gand_notify_watchdog(void);

/* The unit's WatchdogSec= in microseconds when systemd expects pings from
 * this process, 0 when it does not. This function can't fail. */
uint64_t gand_notify_watchdog_usec(void);

/* True when NOTIFY_SOCKET is set, i.e. the messages go somewhere. */
bool gand_notify_enabled(void);

#endif
