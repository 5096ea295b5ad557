/* A growable byte buffer and the JSON writing the collector needs: strings escaped, UTF-8 kept valid. */
#ifndef ROOTLINE_SBUF_H
#define ROOTLINE_SBUF_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct sbuf {
	char *p;
	size_t len, cap;
};

void sb_init(struct sbuf *b, size_t cap);
void sb_free(struct sbuf *b);
void sb_reset(struct sbuf *b);
void sb_grow(struct sbuf *b, size_t need);
void sb_puts(struct sbuf *b, const char *s);

/* Inline: the encoder calls these for every field of every event. */
static inline void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap)
		sb_grow(b, n);
	__builtin_memcpy(b->p + b->len, s, n);
	b->len += n;
}

static inline void sb_putc(struct sbuf *b, char c)
{
	if (b->len + 1 > b->cap)
		sb_grow(b, 1);
	b->p[b->len++] = c;
}
void sb_u64(struct sbuf *b, uint64_t v);
void sb_i64(struct sbuf *b, int64_t v);
/* A quoted JSON string of at most n bytes of s, stopping at NUL; invalid UTF-8 becomes U+FFFD. */
void sb_jstr(struct sbuf *b, const char *s, size_t n);

/* Writes one JSON object's members, comma-separated. */
struct jobj {
	struct sbuf *b;
	int n;
};
void jo_begin(struct jobj *o, struct sbuf *b);
void jo_end(struct jobj *o);
void jo_str(struct jobj *o, const char *key, const char *s);
void jo_strn(struct jobj *o, const char *key, const char *s, size_t n);
void jo_u64(struct jobj *o, const char *key, uint64_t v);
void jo_i64(struct jobj *o, const char *key, int64_t v);
void jo_bool(struct jobj *o, const char *key, bool v);
/* A JSON number with at most 6 decimals (trailing zeros dropped); NaN and infinities become 0. */
void jo_f64(struct jobj *o, const char *key, double v);
/* A uint64 as a decimal string: nanosecond times overflow JSON's exact integer range. */
void jo_u64s(struct jobj *o, const char *key, uint64_t v);
#endif
