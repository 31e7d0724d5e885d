/*  Files built into the binary by parley_embed (src/assets/embed.cmake), so the
    server serves them from memory. Each is its file's bytes, followed by a NUL that
    its size does not count. */
#ifndef PARLEY_ASSETS_H
#define PARLEY_ASSETS_H

#include <stddef.h>

//  src/assets/openapi.json, served at GET /api/openapi.json.
extern const unsigned char pl_asset_openapi_json[];
extern const size_t pl_asset_openapi_json_size;

#endif
