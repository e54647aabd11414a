/* gand: the GAN training daemon's entry point. */
#include "gand_config.h"

#include "gand/log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: gand [OPTION]...\n"
            "GAN training service: accepts training jobs over HTTP and trains them.\n"
            "\n"
            "  -h, --help       show this help and exit\n"
            "  -V, --version    print the version and exit\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("gand %s\n", GAND_VERSION);
            return 0;
        default:
            if (optopt)
                fprintf(stderr, "gand: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "gand: unknown option '%s'\n", argv[optind - 1]);
            fprintf(stderr, "Try 'gand --help' for more information.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gand: unexpected argument '%s'\nTry 'gand --help' for more information.\n",
                argv[optind]);
        return 2;
    }
    gand_log_detect_journal();
    gand_log_info("gand %s: the daemon is not implemented yet; see --help", GAND_VERSION);
    return 0;
}
