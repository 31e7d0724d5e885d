/*  parley's entry point: reads the configuration, starts the server, and waits for
    SIGINT or SIGTERM to stop it gracefully. The signals are blocked in every thread
    and taken here with sigwait, so no handler runs in the middle of anyone's work.
    Subcommands instead: `parley import-contents FILE` (import_contents.h), `parley
    copy-store` (copy_store.h), `parley backup DEST` (backup.h), `parley
    check-config`, which loads the configuration as the server would, prints it and
    exits, and `parley --version`. */
#include "parley/backup.h"
#include "parley/config.h"
#include "parley/copy_store.h"
#include "parley/import_contents.h"
#include "parley/log.h"
#include "parley/server.h"

#include <czmq.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "import-contents") == 0)
        return pl_import_contents_main(argc - 1, argv + 1, environ);
    if (argc >= 2 && strcmp(argv[1], "copy-store") == 0)
        return pl_copy_store_main(argc - 1, argv + 1, environ);
    if (argc >= 2 && strcmp(argv[1], "backup") == 0)
        return pl_backup_main(argc - 1, argv + 1, environ);
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("parley %s\n", PARLEY_VERSION);
        return 0;
    }
    if (pl_config_wants_help(argc, argv)) {
        pl_config_print_help(stdout);
        printf("\nSubcommands:\n  parley import-contents FILE.jsonl [options]\n"
               "      load a catalogue of contents into the store (--help for more)\n"
               "  parley copy-store [options]\n"
               "      copy the SQLite store of data_dir into postgres_url (--help for more)\n"
               "  parley backup DEST [options]\n"
               "      copy the node's database, uploads and JWT key into DEST, while it runs\n"
               "  parley check-config [options]\n"
               "      check the configuration and print every effective value and its source\n"
               "  parley --version\n");
        return 0;
    }
    bool check_only = argc >= 2 && strcmp(argv[1], "check-config") == 0;
    if (check_only)
        argc--, argv++;
    pl_config_t cfg;
    char err[512] = "";
    if (pl_config_load(&cfg, argc, argv, environ, err, sizeof err)) {
        fprintf(stderr, "parley: %s\n", err);
        pl_config_clear(&cfg);
        return 2;
    }
    pl_config_start_logging(&cfg);
    if (check_only) {
        pl_config_print(&cfg, stdout);
        pl_config_clear(&cfg);
        return 0;
    }

    //  Before any thread starts, so that every thread inherits the mask; and czmq must
    //  not install its own handlers.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    zsys_handler_set(NULL);

    pl_server_t *server = pl_server_start(&cfg, err, sizeof err);
    if (!server) {
        pl_error("cannot start: %s", err);
        pl_config_clear(&cfg);
        return 1;
    }
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    pl_info("received %s, stopping gracefully", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    pl_server_stop(&server);
    pl_config_clear(&cfg);
    zsys_shutdown();
    return 0;
}
