/*  End to end: GET /api/openapi.json from the real parley binary. It needs no token,
    is JSON that jansson parses, and is byte for byte the document the build embedded
    (tests/test_openapi.c checks that document against the routes). */
#include "e2e_suite.h"
#include "parley/assets.h"

TestSuite(e2e_openapi, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 30);

Test(e2e_openapi, serves_the_embedded_document_without_a_token)
{
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(s_srv.port, "GET", "/api/openapi.json", NULL, NULL, 0, &r), 0,
                 "no answer");
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_expect_str_eq(pl_http_header(&r, "Content-Type"), "application/json");
    cr_expect_str_eq(pl_http_header(&r, "Cache-Control"), "no-cache");
    cr_expect_not_null(pl_http_header(&r, "X-Request-Id"));
    cr_assert_not_null(r.json, "the body is not JSON");
    cr_expect_str_eq(json_string_value(json_object_get(r.json, "openapi")), "3.1.0");
    cr_expect_not_null(json_object_get(json_object_get(r.json, "paths"), "/api/openapi.json"));
    cr_expect(r.body_len == pl_asset_openapi_json_size &&
                  memcmp(r.body, pl_asset_openapi_json, r.body_len) == 0,
              "the body is not the embedded src/assets/openapi.json");
    pl_http_response_free(&r);
}

Test(e2e_openapi, takes_only_get)
{
    pl_api_expect("POST", "/api/openapi.json", NULL, "{}", 405, "method_not_allowed");
}
