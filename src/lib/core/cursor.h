/* cursor.h - bounds-checked little-endian reader over a byte slice (internal).
 *
 *   att_cursor_t c = att_cursor(buf, len);
 *   uint16_t v; const uint8_t *p;
 *   if (!att_cur_u16(&c, &v) || !att_cur_bytes(&c, 384, &p)) return truncated;
 *
 * Every read checks the remaining length first; a failed read consumes nothing
 * and leaves the cursor where it was. Nothing is copied: pointers borrow the buffer.
 */
#ifndef ATT_CORE_CURSOR_H
#define ATT_CORE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *base;
    size_t len;
    size_t off;
} att_cursor_t;

static inline att_cursor_t att_cursor(const uint8_t *buf, size_t len)
{
    att_cursor_t c = {buf, len, 0};
    return c;
}

static inline size_t att_cur_left(const att_cursor_t *c)
{
    return c->len - c->off;
}

static inline bool att_cur_bytes(att_cursor_t *c, size_t n, const uint8_t **out)
{
    if (n > att_cur_left(c))
        return false;
    *out = c->base + c->off;
    c->off += n;
    return true;
}

static inline bool att_cur_u16(att_cursor_t *c, uint16_t *out)
{
    const uint8_t *p;
    if (!att_cur_bytes(c, 2, &p))
        return false;
    *out = (uint16_t)(p[0] | (p[1] << 8));
    return true;
}

static inline bool att_cur_u32(att_cursor_t *c, uint32_t *out)
{
    const uint8_t *p;
    if (!att_cur_bytes(c, 4, &p))
        return false;
    *out = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    return true;
}

static inline uint16_t att_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t att_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t att_le64(const uint8_t *p)
{
    return (uint64_t)att_le32(p) | ((uint64_t)att_le32(p + 4) << 32);
}

#endif
