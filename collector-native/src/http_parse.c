#include "http_parse.h"
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <stdlib.h>

static void copy(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = 0;
}

/* Keeps each parameter's name and replaces its value: "a=1&b" -> "a=REDACTED&b". Stops when out is full. */
static void redact_query(const char *q, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	bool in_value = false;
	for (size_t i = 0; i < n && o + 10 < cap; i++) {
		if (q[i] == '&') {
			in_value = false;
			out[o++] = '&';
		} else if (in_value) {
			continue;
		} else if (q[i] == '=') {
			in_value = true;
			memcpy(out + o, "=REDACTED", 9);
			o += 9;
		} else {
			out[o++] = q[i];
		}
	}
	out[o] = 0;
}

void http_parse_request(const char *buf, size_t n, bool keep_query, struct http_request *out)
{
	memset(out, 0, sizeof(*out));
	out->content_length = -1;
	const char *end = buf + n;
	const char *sp = memchr(buf, ' ', n);
	if (!sp) {
		out->truncated = true;
		copy(out->method, sizeof(out->method), buf, n < 7 ? n : 7);
		return;
	}
	copy(out->method, sizeof(out->method), buf, (size_t)(sp - buf));
	const char *target = sp + 1;
	const char *line_end = memchr(target, '\r', (size_t)(end - target));
	const char *t_end = memchr(target, ' ', (size_t)(end - target));
	if (!t_end || (line_end && t_end > line_end)) {
		out->truncated = true; /* the target did not fit: keep what arrived */
		t_end = line_end ? line_end : end;
	}
	const char *q = memchr(target, '?', (size_t)(t_end - target));
	copy(out->path, sizeof(out->path), target, (size_t)((q ? q : t_end) - target));
	if (q) {
		if (keep_query)
			copy(out->query, sizeof(out->query), q + 1, (size_t)(t_end - q - 1));
		else
			redact_query(q + 1, (size_t)(t_end - q - 1), out->query, sizeof(out->query));
	}
	if (!out->truncated && t_end + 9 <= end && !memcmp(t_end + 1, "HTTP/", 5))
		copy(out->version, sizeof(out->version), t_end + 6, 3);
	/* Content-Length, when the headers that carry it were captured. */
	for (const char *p = line_end; p && p + 16 < end; p = memchr(p + 1, '\n', (size_t)(end - p - 1))) {
		if (!strncasecmp(p + 1, "content-length:", 15)) {
			const char *v = p + 16;
			while (v < end && *v == ' ')
				v++;
			if (v < end && isdigit((unsigned char)*v)) {
				char num[20] = {0};
				size_t k = 0;
				while (v + k < end && k < 19 && isdigit((unsigned char)v[k]))
					num[k] = v[k], k++;
				if (v + k < end)
					out->content_length = strtoll(num, NULL, 10);
			}
			break;
		}
	}
}

void http_parse_response(const char *buf, size_t n, struct http_response *out)
{
	out->status = 0;
	/* "HTTP/1.1 200 ..." */
	if (n >= 12 && !memcmp(buf, "HTTP/1.", 7) && buf[8] == ' ' && isdigit((unsigned char)buf[9]) &&
	    isdigit((unsigned char)buf[10]) && isdigit((unsigned char)buf[11]))
		out->status = (unsigned)((buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0'));
}
