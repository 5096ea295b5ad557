#include "sbuf.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <math.h>

void sb_init(struct sbuf *b, size_t cap)
{
	b->p = malloc(cap ? cap : 64);
	if (!b->p)
		abort();
	b->len = 0;
	b->cap = cap ? cap : 64;
}

void sb_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void sb_reset(struct sbuf *b) { b->len = 0; }

void sb_grow(struct sbuf *b, size_t need)
{
	if (b->len + need <= b->cap)
		return;
	size_t cap = b->cap * 2;
	while (cap < b->len + need)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		abort(); /* out of memory: the buffer bound (--buffer-events) is what keeps this from happening */
	b->p = p;
	b->cap = cap;
}

void sb_puts(struct sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

void sb_u64(struct sbuf *b, uint64_t v)
{
	char tmp[24];
	int i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sb_putn(b, tmp + i, sizeof(tmp) - i);
}

void sb_i64(struct sbuf *b, int64_t v)
{
	if (v < 0) {
		sb_putc(b, '-');
		sb_u64(b, (uint64_t)(-(v + 1)) + 1);
	} else {
		sb_u64(b, (uint64_t)v);
	}
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

void sb_jstr(struct sbuf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	static const char hex[] = "0123456789abcdef";
	sb_grow(b, 2);
	b->p[b->len++] = '"';
	size_t i = 0;
	while (i < n && s[i]) {
		/* Copy the run of bytes that need no escaping in one go: most strings are nothing but that. */
		size_t j = i;
		while (j < n && s[j] >= 0x20 && s[j] < 0x7f && s[j] != '"' && s[j] != '\\')
			j++;
		if (j > i) {
			sb_putn(b, (const char *)s + i, j - i);
			i = j;
			continue;
		}
		unsigned char c = s[i];
		if (!c)
			break;
		if (c == '"' || c == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)c);
		} else if (c == '\n') {
			sb_putn(b, "\\n", 2);
		} else if (c == '\t') {
			sb_putn(b, "\\t", 2);
		} else if (c == '\r') {
			sb_putn(b, "\\r", 2);
		} else if (c < 0x20 || c == 0x7f) {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			sb_putn(b, u, 6);
		} else {
			size_t len = utf8_len(s + i, n - i);
			if (len) {
				sb_putn(b, (const char *)s + i, len);
				i += len;
				continue;
			}
			sb_putn(b, "\\ufffd", 6);
		}
		i++;
	}
	sb_putc(b, '"');
}

void jo_begin(struct jobj *o, struct sbuf *b)
{
	o->b = b;
	o->n = 0;
	sb_putc(b, '{');
}

void jo_end(struct jobj *o) { sb_putc(o->b, '}'); }

static void key(struct jobj *o, const char *k)
{
	if (o->n++)
		sb_putc(o->b, ',');
	sb_putc(o->b, '"');
	sb_puts(o->b, k); /* keys are literals of ours: nothing to escape */
	sb_putn(o->b, "\":", 2);
}

void jo_strn(struct jobj *o, const char *k, const char *s, size_t n)
{
	key(o, k);
	sb_jstr(o->b, s, n);
}

void jo_str(struct jobj *o, const char *k, const char *s) { jo_strn(o, k, s, (size_t)-1); }

void jo_u64(struct jobj *o, const char *k, uint64_t v)
{
	key(o, k);
	sb_u64(o->b, v);
}

void jo_i64(struct jobj *o, const char *k, int64_t v)
{
	key(o, k);
	sb_i64(o->b, v);
}

void jo_bool(struct jobj *o, const char *k, bool v)
{
	key(o, k);
	sb_puts(o->b, v ? "true" : "false");
}

void jo_u64s(struct jobj *o, const char *k, uint64_t v)
{
	key(o, k);
	sb_putc(o->b, '"');
	sb_u64(o->b, v);
	sb_putc(o->b, '"');
}

void jo_f64(struct jobj *o, const char *k, double v)
{
	char buf[64];
	if (!isfinite(v) || v > 1e18 || v < -1e18)
		v = 0;
	int n = snprintf(buf, sizeof(buf), "%.6f", v);
	while (n > 1 && buf[n - 1] == '0')
		n--;
	if (buf[n - 1] == '.')
		n--;
	if (n == 2 && buf[0] == '-' && buf[1] == '0')
		buf[0] = '0', n = 1;
	key(o, k);
	sb_putn(o->b, buf, (size_t)n);
}
