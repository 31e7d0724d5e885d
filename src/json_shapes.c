/*  JSON shapes of PROTOCOL.md. */
#include "parley/json_shapes.h"

#include "parley/log.h"

#include <inttypes.h>

json_t *pl_json_user(const pl_user_t *user)
{
    return json_pack("{s:I, s:s, s:s, s:o, s:I}", "id", (json_int_t)user->id, "username",
                     user->username, "display_name", user->display_name, "avatar_url",
                     user->avatar_url[0] ? json_string(user->avatar_url) : json_null(),
                     "created_at", (json_int_t)user->created_at);
}

json_t *pl_json_error(const char *code, const char *message)
{
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

json_t *pl_json_notification(int64_t id, bool read, const char *body)
{
    json_t *notification = json_loads(body, 0, NULL);
    if (!json_is_object(notification)) {
        pl_warn("store: notification %" PRId64 " has a malformed body", id);
        json_decref(notification);
        notification = json_object();
    }
    json_object_set_new(notification, "id", json_integer((json_int_t)id));
    json_object_set_new(notification, "read", json_boolean(read));
    return notification;
}
