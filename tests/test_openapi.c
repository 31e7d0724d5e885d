/*  The OpenAPI document (src/assets/openapi.json, as built into the binary) against
    the route tables the server answers from (pl_http_route_tables), so the two never
    drift: every route is documented with its method, every documented operation is
    served, and what the document says about tokens and path parameters is what the
    router does. Paths are compared by shape: the router's "{id}" and "{name}" and
    the document's "{room_id}" or "{name}" are all one parameter segment, matched by
    position.
    Whether the document is valid OpenAPI is tests/openapi/lint's question. */
#include "parley/assets.h"
#include "parley/http.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

TestSuite(openapi, .timeout = 10);

//  The one documented operation the route tables do not hold: civetweb answers the
//  WebSocket upgrade itself (ws.c).
#define WS_PATH "/ws"

static json_t *s_document(void)
{
    json_error_t error;
    json_t *doc =
        json_loadb((const char *)pl_asset_openapi_json, pl_asset_openapi_json_size, 0, &error);
    cr_assert_not_null(doc, "openapi.json is not JSON: %s (line %d)", error.text, error.line);
    return doc;
}

//  Copies path with every "{...}" segment written as "{}".
static void s_shape(const char *path, char *out, size_t size)
{
    size_t len = 0;
    for (const char *p = path; *p && len + 2 < size; p++) {
        out[len++] = *p;
        if (*p == '{') {
            p = strchr(p, '}');
            cr_assert_not_null(p, "unclosed parameter in %s", path);
            out[len++] = '}';
        }
    }
    out[len] = '\0';
}

//  The document's path item whose shape is pattern's, or NULL; *doc_path is its
//  path as the document spells it.
static json_t *s_path_item(json_t *doc, const char *pattern, const char **doc_path)
{
    char want[256], have[256];
    s_shape(pattern, want, sizeof want);
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        s_shape(path, have, sizeof have);
        if (strcmp(want, have) == 0) {
            *doc_path = path;
            return item;
        }
    }
    return NULL;
}

//  value, or what its "$ref" ("#/components/...") names.
static json_t *s_deref(json_t *doc, json_t *value)
{
    const char *ref = json_string_value(json_object_get(value, "$ref"));
    if (!ref || strncmp(ref, "#/", 2) != 0)
        return value;
    char keys[256];
    snprintf(keys, sizeof keys, "%s", ref + 2);
    json_t *at = doc;
    char *save;
    for (char *key = strtok_r(keys, "/", &save); at && key; key = strtok_r(NULL, "/", &save))
        at = json_object_get(at, key);
    return at;
}

//  The schema type the document gives the path parameter called name (len
//  bytes), declared on the operation or on its path item; NULL when undeclared.
static const char *s_param_type(json_t *doc, json_t *item, json_t *operation, const char *name,
                                size_t len)
{
    json_t *lists[] = {json_object_get(operation, "parameters"),
                       json_object_get(item, "parameters")};
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        size_t i;
        json_t *param;
        json_array_foreach(lists[l], i, param)
        {
            param = s_deref(doc, param);
            const char *in = json_string_value(json_object_get(param, "in"));
            const char *called = json_string_value(json_object_get(param, "name"));
            if (in && called && strcmp(in, "path") == 0 && strlen(called) == len &&
                strncmp(called, name, len) == 0)
                return json_string_value(
                    json_object_get(s_deref(doc, json_object_get(param, "schema")), "type"));
        }
    }
    return NULL;
}

//  Checks, by position, that the document types each parameter of route as the
//  router reads it: "{id}" as an integer, "{name}" as a string.
static void s_check_params(json_t *doc, const pl_route_t *route, const char *doc_path, json_t *item,
                           json_t *operation)
{
    const char *r = route->pattern, *d = doc_path;
    while ((r = strchr(r, '{')) && (d = strchr(d, '{'))) {
        const char *want = strncmp(r, "{id}", 4) == 0 ? "integer" : "string";
        int len = (int)strcspn(++d, "}");
        const char *type = s_param_type(doc, item, operation, d, (size_t)len);
        cr_expect(type && strcmp(type, want) == 0,
                  "%s %s: openapi.json's {%.*s} is %s, the router reads it as %s", route->method,
                  route->pattern, len, d, type ? type : "undeclared", want);
        r++;
    }
}

//  The route of the tables with this method and path shape, or NULL.
static const pl_route_t *s_route(const char *method, const char *path)
{
    char want[256], have[256];
    s_shape(path, want, sizeof want);
    for (size_t t = 0; t < pl_http_route_table_count; t++)
        for (const pl_route_t *route = pl_http_route_tables[t]; route->method; route++) {
            s_shape(route->pattern, have, sizeof have);
            if (strcasecmp(route->method, method) == 0 && strcmp(want, have) == 0)
                return route;
        }
    return NULL;
}

//  An operation needs a token unless it overrides the document's security with [].
static bool s_needs_token(json_t *doc, json_t *operation)
{
    json_t *security = json_object_get(operation, "security");
    if (!security)
        security = json_object_get(doc, "security");
    return json_array_size(security) > 0;
}

static bool s_is_method(const char *key)
{
    static const char *const methods[] = {"get",     "put",  "post",  "delete",
                                          "options", "head", "patch", "trace"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(key, methods[i]) == 0)
            return true;
    return false;
}

Test(openapi, is_an_openapi_3_1_document)
{
    json_t *doc = s_document();
    cr_expect_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(doc, "info"), "version")),
                     PARLEY_VERSION, "info.version is not the build's version");
    json_decref(doc);
}

Test(openapi, documents_every_route)
{
    json_t *doc = s_document();
    size_t routes = 0;
    for (size_t t = 0; t < pl_http_route_table_count; t++)
        for (const pl_route_t *route = pl_http_route_tables[t]; route->method; route++) {
            routes++;
            const char *doc_path = NULL;
            json_t *item = s_path_item(doc, route->pattern, &doc_path);
            cr_expect_not_null(item, "%s %s is served but not in openapi.json", route->method,
                               route->pattern);
            char method[16];
            size_t i = 0;
            for (; route->method[i] && i < sizeof method - 1; i++)
                method[i] = (char)tolower((unsigned char)route->method[i]);
            method[i] = '\0';
            json_t *operation = json_object_get(item, method);
            cr_expect(!item || operation, "%s %s is served but openapi.json has no %s for it",
                      route->method, route->pattern, method);
            if (!operation)
                continue;
            cr_expect_eq(s_needs_token(doc, operation), route->needs_auth,
                         "%s %s: the router %s a token, openapi.json says it %s", route->method,
                         route->pattern, route->needs_auth ? "requires" : "does not require",
                         s_needs_token(doc, operation) ? "does" : "does not");
            cr_expect(!route->needs_auth ||
                          json_object_get(json_object_get(operation, "responses"), "401"),
                      "%s %s needs a token but openapi.json lists no 401", route->method,
                      route->pattern);
            s_check_params(doc, route, doc_path, item, operation);
        }
    cr_expect_gt(routes, 20, "the route tables look empty");
    json_decref(doc);
}

Test(openapi, serves_every_documented_operation)
{
    json_t *doc = s_document();
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        const char *key;
        json_t *operation;
        json_object_foreach(item, key, operation)
        {
            if (!s_is_method(key))
                continue;
            if (strcmp(path, WS_PATH) == 0 && strcmp(key, "get") == 0) {
                cr_expect(s_needs_token(doc, operation), "GET /ws needs a token");
                continue;
            }
            cr_expect_not_null(s_route(key, path), "openapi.json has %s %s, which is not served",
                               key, path);
        }
    }
    json_decref(doc);
}
