/* Checks on the raw text of a job spec that a JSON parser lets through. */
#include "spec_text.h"

#include <string.h>

/* Length of the UTF-8 sequence at s (n bytes left), 0 when it is not
 * one: overlong forms, surrogates and code points past U+10FFFF are not. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return len;
}

gand_status gan_spec_text_ok(const char *text, size_t len, char *err, size_t errlen)
{
    const unsigned char *s = (const unsigned char *)text;
    bool in_string = false;
    for (size_t i = 0; i < len;) {
        if (in_string && s[i] == '\\') {
            if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
                return gand_errorf(err, errlen, GAND_EINVAL,
                                   "the job spec has a NUL character (\\u0000) in a string at "
                                   "byte %zu: names and paths cannot hold one",
                                   i);
            i += 2; /* the escaped character is ASCII in valid JSON */
            continue;
        }
        if (s[i] == '"')
            in_string = !in_string;
        size_t n = utf8_len(s + i, len - i);
        if (n == 0)
            return gand_errorf(err, errlen, GAND_EINVAL,
                               "the job spec is not valid UTF-8 at byte %zu: send it as UTF-8 "
                               "text",
                               i);
        i += n;
    }
    return GAND_OK;
}
