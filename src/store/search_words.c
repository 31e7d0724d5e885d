/*  The words of a search query (see search_words.h). */
#include "search_words.h"

#include <stdbool.h>

static bool s_is_word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

int pl__search_words(pl_str_t query, pl_str_t words[PL__SEARCH_WORDS_MAX])
{
    const unsigned char *text = (const unsigned char *)query.ptr;
    size_t len = query.ptr ? query.len : 0, at = 0;
    int count = 0;
    while (count < PL__SEARCH_WORDS_MAX) {
        while (at < len && !s_is_word_byte(text[at]))
            at++;
        size_t start = at;
        while (at < len && s_is_word_byte(text[at]))
            at++;
        size_t word = at - start;
        if (word == 0)
            break;
        //  Cut before a continuation byte, never inside a character.
        if (word > PL__SEARCH_WORD_BYTES_MAX) {
            word = PL__SEARCH_WORD_BYTES_MAX;
            while (word > 0 && (text[start + word] & 0xc0) == 0x80)
                word--;
        }
        if (word > 0)
            words[count++] = (pl_str_t){query.ptr + start, word};
    }
    return count;
}
