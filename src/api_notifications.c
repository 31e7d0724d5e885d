/*  Stored notifications (PROTOCOL.md "Notifications"): the listing reads the store;
    marking read goes to the notifier, which stops coalescing into the notifications
    read and passes the request on to the persister, which answers after the commit. */
#include "parley/http.h"

#include "parley/log.h"

#include <stdlib.h>

#define PAGE_DEFAULT 20
#define PAGE_MAX     100

static void s_list(pl_req_t *req)
{
    int64_t before = INT64_MAX, limit = PAGE_DEFAULT;
    if (pl_http_query_int(req, "before", 1, INT64_MAX, &before, NULL) ||
        pl_http_query_int(req, "limit", 1, PAGE_MAX, &limit, NULL))
        return;
    json_t *notifications = NULL;
    int64_t unread = 0;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->notifications_page(reader, req->user_id, before, limit,
                                                         &notifications, &unread);
    pl_store_pool_give(req->app->readers, reader);
    if (status != PL_STATUS_OK) {
        pl_http_error(req->conn, 500, "internal", "the store failed");
        return;
    }
    pl_http_reply(
        req->conn, 200,
        json_pack("{s:o, s:I}", "notifications", notifications, "unread", (json_int_t)unread),
        NULL);
}

//  Copies the ids that pl_check_read_marks took into a new array of *count ids;
//  -1 after answering 500.
static int s_copy_ids(pl_req_t *req, const json_t *ids, int64_t **out, size_t *count)
{
    size_t n = json_array_size(ids);
    *out = malloc(n * sizeof **out);
    if (!*out) {
        pl_http_error(req->conn, 500, "internal", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        (*out)[i] = json_integer_value(json_array_get(ids, i));
    *count = n;
    return 0;
}

static void s_mark_read(pl_req_t *req)
{
    json_t *body = pl_http_read_json(req);
    if (!body)
        return;
    int64_t *ids = NULL;
    size_t count = 0;
    pl_read_marks_t marks;
    const char *field, *problem = pl_check_read_marks(body, &marks, &field);
    if (problem) {
        pl_http_error(req->conn, 400, "bad_request", "%s%s%s", field ? field : "",
                      field ? ": " : "", problem);
        goto done;
    }
    if (marks.ids && s_copy_ids(req, marks.ids, &ids, &count))
        goto done;
    pl_msg_t msg = {
        .type = PL_MSG_NOTIFICATIONS_READ,
        .as.notifications_read = {.user_id = req->user_id,
                                  .ids = {(const char *)ids, (uint32_t)(count * sizeof *ids)},
                                  .all = marks.all}};
    pl_msg_reply_t reply;
    if (pl_http_ask(req, pl_app_notifier_ingress(req->app, req->user_id), &msg,
                    &msg.as.notifications_read.waiter, &msg.as.notifications_read.req_id,
                    PL_HTTP_ACTOR_TIMEOUT_MS, "unavailable", &reply, NULL))
        goto done;
    if (reply.status == PL_STATUS_OK)
        pl_http_reply(req->conn, 204, NULL, NULL);
    else
        pl_http_error(req->conn, 500, "internal", "the notifications could not be marked read");
done:
    free(ids);
    json_decref(body);
}

const pl_route_t pl_notification_routes[] = {
    {"GET", "/api/notifications", true, s_list},
    {"POST", "/api/notifications/read", true, s_mark_read},
    {NULL, NULL, false, NULL},
};
