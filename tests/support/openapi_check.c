/*  tests/support/openapi_check.c
 *
 *  Owns the check of real answers against the OpenAPI document's response
 *  schemas (openapi_check.h): $ref resolution within the document and the
 *  subset of JSON Schema the document uses.
 */
#include "openapi_check.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

//  Where a check is: the document, and the first mismatch found.
typedef struct {
    const json_t *doc;
    char *err;
    size_t err_len;
} check_t;

static bool s_fail(check_t *c, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool s_fail(check_t *c, const char *where, const char *fmt, ...)
{
    int n = snprintf(c->err, c->err_len, "%s: ", where);
    va_list args;
    va_start(args, fmt);
    if (n >= 0 && (size_t)n < c->err_len)
        vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, args);
    va_end(args);
    return false;
}

//  The schema a "$ref": "#/a/b" names, following refs to refs; schema itself
//  when it has none; NULL when the ref leads nowhere.
static const json_t *s_resolve(const json_t *doc, const json_t *schema)
{
    const char *ref;
    while (schema && (ref = json_string_value(json_object_get(schema, "$ref")))) {
        if (strncmp(ref, "#/", 2) != 0)
            return NULL;
        const json_t *at = doc;
        for (const char *key = ref + 2; at && *key;) {
            size_t len = strcspn(key, "/");
            at = json_object_getn(at, key, len);
            key += len + (key[len] == '/');
        }
        schema = at;
    }
    return schema;
}

static bool s_is_type(const json_t *value, const char *type)
{
    //  The JSON Schema types that are one jansson type each; number and boolean
    //  are two.
    static const struct {
        const char *name;
        json_type type;
    } single[] = {{"object", JSON_OBJECT},
                  {"array", JSON_ARRAY},
                  {"string", JSON_STRING},
                  {"integer", JSON_INTEGER},
                  {"null", JSON_NULL}};
    if (strcmp(type, "number") == 0)
        return json_is_number(value);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(value);
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        if (strcmp(type, single[i].name) == 0)
            return json_typeof(value) == single[i].type;
    return false;
}

//  True when schema, or one of its allOf parts, names the member key.
static bool s_names(const json_t *doc, const json_t *schema, const char *key)
{
    schema = s_resolve(doc, schema);
    if (json_object_get(json_object_get(schema, "properties"), key))
        return true;
    size_t i;
    const json_t *part;
    json_array_foreach(json_object_get(schema, "allOf"), i, part)
    {
        if (s_names(doc, part, key))
            return true;
    }
    return false;
}

static bool s_valid(check_t *c, const json_t *schema, const json_t *value, const char *where,
                    bool strict);

//  oneOf (exactly one part matches) or anyOf (at least one does).
static bool s_alternatives(check_t *c, const json_t *parts, bool one, const json_t *value,
                           const char *where)
{
    size_t i, matches = 0;
    const json_t *part;
    json_array_foreach(parts, i, part)
    {
        matches += s_valid(c, part, value, where, true);
    }
    if (one ? matches == 1 : matches > 0)
        return true;
    return s_fail(c, where, "matches %zu of its %s alternatives", matches, one ? "oneOf" : "anyOf");
}

static bool s_valid_type(check_t *c, const json_t *schema, const json_t *value, const char *where)
{
    const json_t *type = json_object_get(schema, "type");
    if (!type)
        return true;
    if (json_is_string(type))
        return s_is_type(value, json_string_value(type)) ||
               s_fail(c, where, "is not of type %s", json_string_value(type));
    size_t i;
    const json_t *one;
    json_array_foreach(type, i, one)
    {
        if (s_is_type(value, json_string_value(one)))
            return true;
    }
    return s_fail(c, where, "is not of any type the schema allows");
}

static bool s_valid_value(check_t *c, const json_t *schema, const json_t *value, const char *where)
{
    const json_t *allowed = json_object_get(schema, "enum"),
                 *fixed = json_object_get(schema, "const");
    if (allowed) {
        size_t i;
        const json_t *one;
        bool found = false;
        json_array_foreach(allowed, i, one)
        {
            found = found || json_equal(one, value);
        }
        if (!found)
            return s_fail(c, where, "is not one of its enum");
    }
    if (fixed && !json_equal(fixed, value))
        return s_fail(c, where, "is not its const");
    const json_t *min = json_object_get(schema, "minimum"),
                 *max = json_object_get(schema, "maximum");
    if (json_is_integer(value) && min && json_integer_value(value) < json_integer_value(min))
        return s_fail(c, where, "is below its minimum");
    if (json_is_integer(value) && max && json_integer_value(value) > json_integer_value(max))
        return s_fail(c, where, "is above its maximum");
    return true;
}

static bool s_valid_members(check_t *c, const json_t *schema, const json_t *value,
                            const char *where, bool strict)
{
    char at[512];
    size_t i;
    const json_t *name;
    json_array_foreach(json_object_get(schema, "required"), i, name)
    {
        if (!json_object_get(value, json_string_value(name)))
            return s_fail(c, where, "has no required member %s", json_string_value(name));
    }
    const char *key;
    const json_t *member;
    bool described = json_object_get(schema, "properties") || json_object_get(schema, "allOf");
    json_object_foreach((json_t *)value, key, member)
    {
        snprintf(at, sizeof at, "%s.%s", where, key);
        const json_t *property = json_object_get(json_object_get(schema, "properties"), key);
        if (property && !s_valid(c, property, member, at, true))
            return false;
        if (strict && described && !s_names(c->doc, schema, key))
            return s_fail(c, at, "is not in the document");
    }
    return true;
}

//  Checks value against schema. strict: members the schema does not name are
//  errors; off for the parts of an allOf, which each name only some of them.
static bool s_valid(check_t *c, const json_t *schema, const json_t *value, const char *where,
                    bool strict)
{
    const json_t *resolved = s_resolve(c->doc, schema);
    if (!resolved)
        return s_fail(c, where, "its schema's $ref leads nowhere");
    schema = resolved;
    size_t i;
    const json_t *part;
    json_array_foreach(json_object_get(schema, "allOf"), i, part)
    {
        if (!s_valid(c, part, value, where, false))
            return false;
    }
    const json_t *one_of = json_object_get(schema, "oneOf"),
                 *any_of = json_object_get(schema, "anyOf");
    if ((one_of && !s_alternatives(c, one_of, true, value, where)) ||
        (any_of && !s_alternatives(c, any_of, false, value, where)))
        return false;
    if (!s_valid_type(c, schema, value, where) || !s_valid_value(c, schema, value, where))
        return false;
    if (json_is_object(value))
        return s_valid_members(c, schema, value, where, strict);
    //  An array's items, when the schema says what they are.
    const json_t *items = json_object_get(schema, "items"), *item;
    char at[512];
    json_array_foreach(items ? (json_t *)value : NULL, i, item)
    {
        snprintf(at, sizeof at, "%s[%zu]", where, i);
        if (!s_valid(c, items, item, at, true))
            return false;
    }
    return true;
}

//  Checks body (NULL: none) against the schema of content's application/json, if
//  any; where names the request or answer.
static const char *s_check_content(check_t *c, const json_t *content, const json_t *body,
                                   const char *where)
{
    const json_t *schema = json_object_get(json_object_get(content, "application/json"), "schema");
    if (!body && !schema)
        return NULL;
    if (!body || !schema) {
        s_fail(c, where,
               body ? "JSON the document does not describe"
                    : "no JSON, the document describes some");
        return c->err;
    }
    return s_valid(c, schema, body, "$", true) ? NULL : c->err;
}

//  The operation method on path (as the document spells both), or NULL.
static const json_t *s_operation(const json_t *doc, const char *method, const char *path)
{
    return json_object_get(json_object_get(json_object_get(doc, "paths"), path), method);
}

const char *pl_openapi_check(const json_t *doc, const char *method, const char *path, int status,
                             const json_t *body, char *err, size_t err_len)
{
    check_t c = {doc, err, err_len};
    char code[8], where[300];
    snprintf(code, sizeof code, "%d", status);
    snprintf(where, sizeof where, "%s %s %d", method, path, status);
    const json_t *responses = json_object_get(s_operation(doc, method, path), "responses");
    const json_t *response = s_resolve(doc, json_object_get(responses, code));
    if (!response) {
        s_fail(&c, where, "not in the document");
        return err;
    }
    return s_check_content(&c, json_object_get(response, "content"), body, where);
}

const char *pl_openapi_check_request(const json_t *doc, const char *method, const char *path,
                                     const json_t *body, char *err, size_t err_len)
{
    check_t c = {doc, err, err_len};
    char where[300];
    snprintf(where, sizeof where, "%s %s request", method, path);
    const json_t *request =
        s_resolve(doc, json_object_get(s_operation(doc, method, path), "requestBody"));
    return s_check_content(&c, json_object_get(request, "content"), body, where);
}
