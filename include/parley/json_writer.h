/*  A small JSON writer for the frames built once per message (the "message" frame,
    the ack): it appends compact JSON to one growable buffer that its owner reuses
    from frame to frame, so building a frame costs no allocation once the buffer has
    grown, where jansson would build and free a tree of objects and, when dumping,
    a loop-check table.

    The bytes are the ones json_dumps(JSON_COMPACT) writes for the same keys in the
    same order: strings are escaped as jansson escapes them (quote, backslash, \b \f
    \n \r \t, other control characters as \u00XX in upper case; everything else, UTF-8
    included, as it is), integers in decimal. Strings must be valid UTF-8: everything
    parley writes came through jansson's parser or the edge validation.

    Commas are the writer's business: a key or a value after another one gets its
    comma, so a caller writes keys and values in order and never counts. The writer
    does not check nesting: each object_begin or array_begin needs its end, and an
    object's values need their keys. Out of memory, the writer stops writing and pl_jw_text says
   NULL. */
#ifndef PARLEY_JSON_WRITER_H
#define PARLEY_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data; //  owned: the text so far, NUL-terminated while !failed
    size_t len, capacity;
    bool comma;  //  the next key or value follows another: it needs a comma
    bool failed; //  memory ran out: nothing more is written
} pl_jw_t;

//  A writer with no buffer yet; the first write allocates it. A zeroed pl_jw_t is
//  the same.
#define PL_JW_INIT ((pl_jw_t){0})

//  Empties the writer for the next document, keeping its buffer.
void pl_jw_reset(pl_jw_t *self);

//  Frees the buffer; the writer is empty and usable again.
void pl_jw_release(pl_jw_t *self);

//  The document so far (valid until the next write, reset or release), or NULL if
//  memory ran out. *len, when given, is its length without the NUL.
const char *pl_jw_text(const pl_jw_t *self, size_t *len);

void pl_jw_object_begin(pl_jw_t *self);
void pl_jw_object_end(pl_jw_t *self);

void pl_jw_array_begin(pl_jw_t *self);
void pl_jw_array_end(pl_jw_t *self);

//  An object key: a NUL-terminated name, written as it is (parley's keys need no
//  escaping).
void pl_jw_key(pl_jw_t *self, const char *name);

//  A string value of len bytes (NUL bytes included, written as \u0000).
void pl_jw_str(pl_jw_t *self, const char *str, size_t len);
//  A string value, or null when str is NULL.
void pl_jw_str_or_null(pl_jw_t *self, const char *str, size_t len);
//  An optional member: the key and its string value, or nothing when str is NULL.
void pl_jw_member_str_if(pl_jw_t *self, const char *key, const char *str, size_t len);
void pl_jw_int(pl_jw_t *self, int64_t value);
void pl_jw_bool(pl_jw_t *self, bool value);

//  A value that is already JSON text (an object serialised once and written into
//  many documents), copied as it is: the caller vouches for it.
void pl_jw_raw(pl_jw_t *self, const char *json, size_t len);

#endif
