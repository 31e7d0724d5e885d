/*  The browser client (src/assets/web, built into the binary by parley_embed_web):
    GET (or HEAD) / answers index.html, /assets/<version>/<name> its scripts and
    styles, gzipped when the browser takes it. No token: these are static files.

    The version in the asset urls is a hash of every file of the client, so an asset
    url never names two contents and may be cached for a year, while index.html,
    which names the current version, is asked for again on every load. Every answer
    carries the page's Content-Security-Policy: scripts, styles and connections only
    from this origin (WebSocket and EventSource included), no inline script, images
    from here (uploads) and from blob: (an image previewed before its upload). The
    Referrer-Policy keeps the Origin header the browser sends on the app's own POSTs
    (the cookie's origin check needs it), which no-referrer would turn into "null". */
#include "parley/http.h"
#include "parley/web.h"

#include <stdio.h>
#include <string.h>

#define S_SECURITY_HEADERS                                                                         \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "           \
    "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; "                            \
    "form-action 'none'; frame-ancestors 'none'\r\n"                                               \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "Referrer-Policy: same-origin\r\n"                                                             \
    "X-Frame-Options: DENY\r\n"                                                                    \
    "Vary: Accept-Encoding\r\n"

static void s_send(pl_req_t *req, const pl_web_asset_t *asset, const char *cache_control)
{
    bool gzip = pl_web_accepts_gzip(mg_get_header(req->conn, "Accept-Encoding"));
    const unsigned char *bytes = gzip ? asset->gzip : asset->bytes;
    size_t size = gzip ? asset->gzip_size : asset->size;
    const char *headers =
        gzip ? S_SECURITY_HEADERS "Content-Encoding: gzip\r\n" : S_SECURITY_HEADERS;
    if (pl_http_write_head(req->conn, 200, asset->type, size, cache_control, headers) == 0 &&
        strcmp(req->info->request_method, "HEAD") != 0)
        mg_write(req->conn, bytes, size);
}

//  Only the page's own path: the router matches civetweb's cleaned path, in which
//  "/uploads/%2e%2e" is "/" too, and such a path stays the 404 it was.
static void s_index(pl_req_t *req)
{
    const char *raw = req->info->local_uri_raw;
    const pl_web_asset_t *index = pl_web_find("index.html", strlen("index.html"));
    if (index && raw && strcmp(raw, "/") == 0)
        s_send(req, index, "no-cache");
    else
        pl_http_error(req->conn, 404, "not_found", "no such endpoint: %s", req->info->local_uri);
}

//  The route's pattern is /assets/{name}/{name}: path_name is the file, and the
//  version segment is checked here, since the router keeps only the last {name}.
static void s_asset(pl_req_t *req)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "/assets/%s/", pl_web_version);
    const pl_web_asset_t *asset = NULL;
    if (strncmp(req->info->local_uri, prefix, strlen(prefix)) == 0)
        asset = pl_web_find(req->path_name, req->path_name_len);
    if (asset)
        s_send(req, asset, "public, max-age=31536000, immutable");
    else
        pl_http_error(req->conn, 404, "not_found", "no such asset: %s", req->info->local_uri);
}

const pl_route_t pl_web_routes[] = {
    {"GET", "/", false, s_index},
    {"HEAD", "/", false, s_index},
    {"GET", "/assets/{name}/{name}", false, s_asset},
    {"HEAD", "/assets/{name}/{name}", false, s_asset},
    {NULL, NULL, false, NULL},
};
