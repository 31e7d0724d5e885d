/*  The browser client's files (assets.h) as the server looks them up: by name, and
    in the encoding the client takes. Pure functions, so tests call them directly;
    src/api_web.c serves what they choose. */
#ifndef PARLEY_WEB_H
#define PARLEY_WEB_H

#include "parley/assets.h"

#include <stdbool.h>

//  The client file called name (len bytes, not NUL-terminated), or NULL.
const pl_web_asset_t *pl_web_find(const char *name, size_t len);

//  True when an Accept-Encoding header (NULL: none) names gzip with a q other than
//  0. "*" is not read as gzip: every browser names it, and a client that does not
//  gets the plain bytes, which is never wrong.
bool pl_web_accepts_gzip(const char *accept_encoding);

#endif
