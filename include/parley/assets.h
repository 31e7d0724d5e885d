/*  Files built into the binary by parley_embed (src/assets/embed.cmake), so the
    server serves them from memory. Each is its file's bytes, followed by a NUL that
    its size does not count. */
#ifndef PARLEY_ASSETS_H
#define PARLEY_ASSETS_H

#include <stddef.h>

//  src/assets/openapi.json, served at GET /api/openapi.json.
extern const unsigned char pl_asset_openapi_json[];
extern const size_t pl_asset_openapi_json_size;

//  A file of the browser client (src/assets/web, parley_embed_web), as served and
//  gzipped at build time.
typedef struct {
    const char *name; //  its file name, e.g. "app.js"
    const char *type; //  its Content-Type
    const unsigned char *bytes;
    size_t size;
    const unsigned char *gzip;
    size_t gzip_size;
} pl_web_asset_t;

//  Every file of src/assets/web, sorted by name.
extern const pl_web_asset_t pl_web_assets[];
extern const size_t pl_web_asset_count;

//  16 hex digits of a hash over every file of the client: the directory its assets
//  are served from (GET /assets/<version>/<name>), so their urls change with them.
extern const char pl_web_version[];

#endif
