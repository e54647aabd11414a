/* sd_notify wrappers; see gand/notify.h. */
#include "gand/notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

/* sd_notify returns > 0 when sent, 0 when there is no NOTIFY_SOCKET (not
 * under systemd, nothing to do) and < 0 when sending failed. */
static gand_status sent(int r) { return r < 0 ? GAND_EIO : GAND_OK; }

gand_status gand_notify_ready(void) { return sent(sd_notify(0, "READY=1")); }

gand_status gand_notify_stopping(void) { return sent(sd_notify(0, "STOPPING=1")); }

gand_status gand_notify_watchdog(void) { return sent(sd_notify(0, "WATCHDOG=1")); }

gand_status gand_notify_status(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* a newline would end the STATUS= field and start another assignment */
    for (char *p = line; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return sent(sd_notifyf(0, "STATUS=%s", line));
}

uint64_t gand_notify_watchdog_usec(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

bool gand_notify_enabled(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    return s && *s;
}
