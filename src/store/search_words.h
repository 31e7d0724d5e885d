/*  Internal to the store backends: the words of a search query, cut out the same way
    for SQLite's FTS5 and PostgreSQL's tsquery, so both search for the same words
    whatever a client typed. */
#ifndef PARLEY_STORE_SEARCH_WORDS_H
#define PARLEY_STORE_SEARCH_WORDS_H

#include "parley/types.h"

//  Words of a query that are searched; the rest are ignored (no real search needs
//  more, and each word costs an index lookup).
#define PL__SEARCH_WORDS_MAX 16
//  Longest word searched, in bytes; a longer one is cut (at a character boundary)
//  and so matches as the prefix it is.
#define PL__SEARCH_WORD_BYTES_MAX 64

//  Fills words with views into query of its first PL__SEARCH_WORDS_MAX words and
//  returns how many. A word is a run of ASCII letters and digits or of non-ASCII
//  bytes; every other byte (space, punctuation, quotes, '*', '^', ':', '(', NUL)
//  only separates words, so a word never holds query syntax of either backend.
int pl__search_words(pl_str_t query, pl_str_t words[PL__SEARCH_WORDS_MAX]);

#endif
