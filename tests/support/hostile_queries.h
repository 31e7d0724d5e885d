/*  tests/support/hostile_queries.h
 *
 *  Search queries that would be FTS5 syntax errors, column filters, injections
 *  or odd bytes if they reached MATCH as typed: the store's search tests and the
 *  HTTP ones run the same list. None holds a NUL (those are tested apart), some
 *  are not valid UTF-8.
 */
#ifndef PARLEY_TEST_HOSTILE_QUERIES_H
#define PARLEY_TEST_HOSTILE_QUERIES_H

#include <stddef.h>

static const char *const pl_hostile_queries[] = {
    //  FTS5 syntax
    "\"", "\"unclosed", "a\"b", "\"\"\"\"", "'", "*", "*dune", "dune*", "(", ")", "dune)", "AND",
    "AND AND", "OR", "OR NOT", "NOT", "dune OR", "NEAR", "NEAR(", "NEAR(a b, 2)", "near(dune", "^",
    "^dune", "-", "- dune", "dune -", "+", ":", "title:", "title:x", "{title}: x", "description",
    "rowid", "contents_fts",
    //  SQL and LIKE
    "'; --", "); DROP TABLE contents; --", "\\", "%", "_",
    //  Unicode: emoji, a dash, a lone combining accent, controls
    "😀", "😀 dune", "dune 😀", "\xe2\x80\x94", "dune\xe2\x80\x94", "é", "\xcc\x81", "\t\r\n",
    "du\x01ne",
    //  Not UTF-8: stray bytes, a cut character, an overlong '/', a surrogate
    "\xff\xfe", "\xc3", "\x80\x80", "du\xffne", "\xf0\x9f\x98", "\xc0\xaf", "\xed\xa0\x80"};

#define PL_HOSTILE_QUERY_COUNT (sizeof pl_hostile_queries / sizeof pl_hostile_queries[0])

#endif
