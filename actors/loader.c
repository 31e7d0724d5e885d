/*  Loader actor (see loader.h). */
#include "parley/loader.h"

#include "parley/actor.h"
#include "parley/log.h"
#include "parley/room.h"
#include "parley/store.h"

#include <stdlib.h>

typedef struct {
    zsock_t *inbox;  //  owned
    zsock_t **rooms; //  owned: outlets to the room shards
    int room_shards;
    int64_t window;
    pl_store_t *store; //  owned: this actor's reader
} self_t;

static void s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; self->rooms && i < self->room_shards; i++)
        zsock_destroy(&self->rooms[i]);
    free(self->rooms);
    pl_actor_inbox_destroy(&self->inbox);
    pl_store_close(&self->store);
    free(self);
    *self_p = NULL;
}

static self_t *s_self_new(pl_loader_args_t *args)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char err[256] = "";
    self->room_shards = args->room_shards;
    self->window = args->window;
    self->inbox = pl_actor_inbox(PL_LOADER_INBOX);
    self->rooms = calloc((size_t)args->room_shards, sizeof *self->rooms);
    self->store = pl_store_open(&args->store, false, err, sizeof err);
    bool ok = self->inbox && self->rooms && self->store;
    if (!self->store)
        pl_error("loader: %s", err);
    for (int i = 0; ok && i < args->room_shards; i++) {
        char name[32];
        pl_room_inbox_name(i, name, sizeof name);
        ok = (self->rooms[i] = pl_actor_outlet(name)) != NULL;
    }
    if (!ok)
        s_self_destroy(&self);
    return self;
}

static void s_load(self_t *self, const pl_msg_room_load_t *m)
{
    pl_room_state_t state;
    pl_status_t status =
        self->store->ops->room_state(self->store, m->room_id, self->window, &state);
    char *text = NULL;
    if (status == PL_STATUS_OK) {
        json_t *json = json_pack("{s:b, s:I, s:o, s:o, s:o}", "is_dm", state.is_dm, "last_seq",
                                 (json_int_t)state.last_seq, "header", state.header, "members",
                                 state.members, "recent", state.recent);
        text = json_dumps(json, JSON_COMPACT);
        json_decref(json);
        if (!text)
            status = PL_STATUS_INTERNAL;
    }
    pl_msg_t loaded = {.type = PL_MSG_ROOM_LOADED,
                       .as.room_loaded = {m->room_id, status, pl_str_of(text)}};
    if (m->shard >= 0 && m->shard < self->room_shards)
        pl_msg_send(zsock_resolve(self->rooms[m->shard]), &loaded);
    free(text);
}

static void s_on_inbox(void *self_arg)
{
    self_t *self = self_arg;
    pl_msg_frame_t in;
    while (pl_msg_recv(zsock_resolve(self->inbox), &in, ZMQ_DONTWAIT) == 0) {
        if (in.msg.type == PL_MSG_ROOM_LOAD)
            s_load(self, &in.msg.as.room_load);
        else
            pl_error("loader: unexpected %s", pl_msg_name(in.msg.type));
        pl_msg_frame_close(&in);
    }
}

void pl_loader_actor(zsock_t *pipe, void *args_arg)
{
    pl_loader_args_t *args = args_arg;
    pl_actor_name_thread("loader");
    self_t *self = s_self_new(args);
    if (!pl_actor_ready(pipe, self != NULL, &args->failed))
        return;
    pl_actor_loop(pipe, self->inbox, s_on_inbox, self);
    s_self_destroy(&self);
}
