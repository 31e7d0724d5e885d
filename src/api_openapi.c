/*  GET /api/openapi.json: the OpenAPI 3.1 description of every HTTP endpoint
    (src/assets/openapi.json, built into the binary), without a token, so tools and
    client authors can read the contract from the server they talk to.
    tests/test_openapi.c keeps the document and the route tables in step. */
#include "parley/assets.h"
#include "parley/http.h"

static void s_openapi(pl_req_t *req)
{
    //  no-cache, not no-store: a client may keep a copy but must ask again before
    //  using it, since upgrading the server changes the document.
    if (pl_http_write_head(req->conn, 200, "application/json", pl_asset_openapi_json_size,
                           "no-cache", NULL) == 0)
        mg_write(req->conn, pl_asset_openapi_json, pl_asset_openapi_json_size);
}

const pl_route_t pl_openapi_routes[] = {
    {"GET", "/api/openapi.json", false, s_openapi},
    {NULL, NULL, false, NULL},
};
