/*  pl_store_open: the one place that turns the options store, data_dir and
    postgres_url into a connection of the right backend, so the persister, the
    reader pool, the loader, the notifier and import-contents never name one. */
#include "parley/store.h"

#include <stdio.h>
#include <string.h>

pl_store_t *pl_store_open(const pl_store_config_t *where, bool writer, char *err, size_t err_len)
{
    if (!where->backend || strcmp(where->backend, "sqlite") == 0)
        return pl_store_sqlite_open(where->data_dir, writer, err, err_len);
    if (strcmp(where->backend, "postgres") == 0)
        return pl_store_postgres_open(where->postgres_url ? where->postgres_url : "", writer, err,
                                      err_len);
    snprintf(err, err_len, "store: '%s' is not sqlite or postgres", where->backend);
    return NULL;
}
